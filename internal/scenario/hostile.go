package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// HostilePrefix starts the user id of every account that Hostile invents,
// so tests can tell them from the traffic's own users.
const HostilePrefix = "hostile-"

// HostileOptions says how many of each kind of hostile event Hostile mixes
// in. The zero value is DefaultHostile's sizes with nothing turned off.
type HostileOptions struct {
	FarFuture int // dated in the year 2100, each from its own account
	Ahead     int // dated AheadBy after the traffic's middle: past the wall clock's reach but far ahead of the stream
	AheadBy   time.Duration
	Creep     int // a chain, each 23h59m after the one before: never far ahead of the last
	BigIDs    int // token issued to one huge device id and used from another
	BigIDLen  int // bytes of each huge id
	HugeEvent int // bytes of one valid event's user agent, 0 for none
}

// DefaultHostile is what the hostile-input tests mix in: 1,000 events from
// the year 2100, 1,000 dated 45 days ahead and a chain of 200 each a day
// after the one before (still behind the wall clock of 2026-11), each from
// its own account, a token used with 400 KB device ids, a 10 MB
// event, and a few malformed ones (invalid UTF-8 ids, years 0000 and 9999).
func DefaultHostile() HostileOptions {
	return HostileOptions{FarFuture: 1000, Ahead: 1000, Creep: 200, AheadBy: 45 * 24 * time.Hour, BigIDs: 1, BigIDLen: 400 << 10, HugeEvent: 10 << 20}
}

// Hostile returns traffic (JSON Lines, in time order) with hostile events
// inserted as one block at its middle line, where they can do the most
// harm: a forged clock jump there would expire the state of every user
// active in the first half. The traffic's own events are unchanged; every
// invented account's id starts with HostilePrefix.
func Hostile(traffic []byte, o HostileOptions) ([]byte, error) {
	lines := bytes.SplitAfter(traffic, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	mid := len(lines) / 2
	if mid == 0 {
		return nil, fmt.Errorf("scenario: no traffic to mix hostile events into")
	}
	var at struct {
		TS time.Time `json:"ts"`
	}
	if err := json.Unmarshal(lines[mid], &at); err != nil {
		return nil, fmt.Errorf("scenario: line %d: %w", mid+1, err)
	}
	var block bytes.Buffer
	add := func(e Event) error {
		b, err := json.Marshal(e)
		block.Write(b)
		block.WriteByte('\n')
		return err
	}
	for _, ev := range hostileEvents(o, at.TS) {
		if err := add(ev); err != nil {
			return nil, err
		}
	}
	for _, raw := range malformedLines() {
		block.WriteString(raw + "\n")
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i == mid {
			out.Write(block.Bytes())
		}
		out.Write(l)
	}
	return out.Bytes(), nil
}

func hostileEvents(o HostileOptions, mid time.Time) []Event {
	var evs []Event
	login := func(id, user string, ts time.Time, ip string) Event {
		return Event{"event_id": id, "type": "login", "ts": ts.Format(time.RFC3339), "user_id": user,
			"outcome": "failure", "failure_reason": "bad_password", "ip": ip, "device_id": "dev-" + user}
	}
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range o.FarFuture {
		u := fmt.Sprintf("%sfuture-%04d", HostilePrefix, i)
		evs = append(evs, login("hev-future-"+fmt.Sprint(i), u, far.Add(time.Duration(i)*time.Second), fmt.Sprintf("198.51.100.%d", i%250+1)))
	}
	for i := range o.Ahead {
		u := fmt.Sprintf("%sahead-%04d", HostilePrefix, i)
		evs = append(evs, login("hev-ahead-"+fmt.Sprint(i), u, mid.Add(o.AheadBy+time.Duration(i)*time.Second), fmt.Sprintf("198.51.100.%d", i%250+1)))
	}
	for i := range o.Creep {
		u := fmt.Sprintf("%screep-%04d", HostilePrefix, i)
		ts := mid.Add(time.Duration(i+1) * (24*time.Hour - time.Minute))
		evs = append(evs, login("hev-creep-"+fmt.Sprint(i), u, ts, fmt.Sprintf("198.51.100.%d", i%250+1)))
	}
	for i := range o.BigIDs {
		u := fmt.Sprintf("%sbigid-%d", HostilePrefix, i)
		a, b := strings.Repeat("A", o.BigIDLen), strings.Repeat("B", o.BigIDLen)
		tok := fmt.Sprintf("tok-bigid-%d", i)
		evs = append(evs,
			Event{"event_id": fmt.Sprintf("hev-bigid-%d-issue", i), "type": "token_issue", "ts": mid.Format(time.RFC3339), "user_id": u, "token_id": tok, "device_id": a, "ip": "24.10.1.1"},
			Event{"event_id": fmt.Sprintf("hev-bigid-%d-use", i), "type": "token_use", "ts": mid.Add(time.Minute).Format(time.RFC3339), "user_id": u, "token_id": tok, "device_id": b, "ip": "24.10.1.1"})
	}
	if o.HugeEvent > 0 {
		evs = append(evs, Event{"event_id": "hev-huge", "type": "login", "ts": mid.Format(time.RFC3339), "user_id": HostilePrefix + "huge",
			"outcome": "success", "user_agent": strings.Repeat("x", o.HugeEvent)})
	}
	return evs
}

// malformedLines are events every decoder must refuse: ids that are not
// UTF-8 (which a lenient decoder would fold into one user) and years out of
// range.
func malformedLines() []string {
	return []string{
		`{"event_id":"hev-utf8-1","type":"login","ts":"2026-03-03T00:00:00Z","user_id":"hostile-probe-` + "\xff" + `","outcome":"failure"}`,
		`{"event_id":"hev-utf8-2","type":"login","ts":"2026-03-03T00:00:00Z","user_id":"hostile-probe-` + "\xfe" + `","outcome":"failure"}`,
		`{"event_id":"hev-year-0","type":"login","ts":"0000-01-01T00:00:00Z","user_id":"hostile-year","outcome":"success"}`,
		`{"event_id":"hev-year-9999","type":"login","ts":"9999-12-31T23:59:59Z","user_id":"hostile-year","outcome":"success"}`,
		`{"event_id":"hev-dup","type":"login","ts":"2026-03-03T00:00:00Z","user_id":"hostile-dup","user_id":"u0001","outcome":"failure"}`,
	}
}
