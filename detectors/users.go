package detectors

import (
	"strconv"

	"github.com/riskd/riskd/event"
)

// Users is the user-keyed stage: impossible_travel, token_replay, velocity,
// failed_login_burst (per user), new_device and device_integrity over the
// state of each user. Not safe for concurrent use; one worker owns it.
type Users struct {
	cfg   Config
	store *Store[string, UserState]
	clock clock
	names networkNames
	cur   *UserState // the state of the event last processed (Current)
}

// networkNames interns the names of networks (an ASN in decimal) that
// users' familiar lists hold: the users of a network share one string
// instead of holding 5 to 10 bytes each, and an event makes none. It
// forgets them all when full, which only costs strings made again.
type networkNames map[uint32]string

// maxNetworkNames bounds networkNames: about 128 KB.
const maxNetworkNames = 4096

func (m networkNames) name(asn uint32) string {
	if s, ok := m[asn]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(asn), 10)
	if m == nil {
		return s
	}
	if len(m) >= maxNetworkNames {
		clear(m)
	}
	m[asn] = s
	return s
}

// NewUsers returns an empty user stage. cfg must have passed Validate.
func NewUsers(cfg Config) *Users {
	return &Users{
		cfg:   cfg,
		store: NewStore[string](cfg.State.MaxUsers, cfg.State.UserTTL.ms(), func(s *UserState) int64 { return s.Last }),
		clock: clock{maxFuture: cfg.State.MaxFuture.ms()},
		names: networkNames{},
	}
}

// Current returns the state of the user of the event Process last took,
// for the rules to remember their decisions in; nil after a duplicate. It
// is good until the store next changes: the next Process or restore.
func (u *Users) Current() *UserState { return u.cur }

// Store exposes the state, for metrics, snapshots and restore.
func (u *Users) Store() *Store[string, UserState] { return u.store }

// step is what every detector needs to know about the event at hand.
type step struct {
	ev  *event.Event
	ts  int64
	cfg *Config
	// prune is false for an event that jumps far ahead of the user's newest
	// one: it must not push the user's windows out from under later,
	// correctly timed events.
	prune bool
	// horizon extends every window back by the allowed lateness.
	lateness int64
	names    networkNames
}

// Process runs the user detectors on ev (already enriched) and fills f.
// A duplicate event (an event id among the user's latest) updates no state
// and gets only stateless features, with f.Stream.Duplicate set.
func (u *Users) Process(ev *event.Event, f *Features) {
	ts := ev.TS.UnixMilli()
	f.Stream.Future = u.clock.observe(ts)
	integrity(ev, &f.Integrity)

	st, created := u.store.Get(ev.UserID, u.clock.now)
	u.cur = nil
	if st.seen(hashString(ev.ID)) {
		f.Stream.Duplicate = true
		return
	}
	u.cur = st
	s := step{ev: ev, ts: ts, cfg: &u.cfg, lateness: u.cfg.State.AllowedLateness.ms(), names: u.names}
	if created {
		st.First, st.Last = ts, ts
		s.prune = true
	} else {
		f.Stream.Late = st.Last-ts > s.lateness
		s.prune = ts >= st.Last && ts-st.Last <= u.cfg.State.MaxFuture.ms()
	}

	novelty(st, &s, &f.Novelty) // before travel and tokens record this sighting
	travel(st, &s, &f.Travel)
	tokens(st, &s, &f.Token)
	if ev.Type == event.Transaction {
		velocity(st, &s, &f.Velocity)
	}
	logins(st, &s, &f.Logins)

	st.First = min(st.First, ts)
	st.Last = max64(st.Last, ts)
}
