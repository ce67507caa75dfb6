package backtest

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/rules"
)

// maxKeys bounds the keys whose decisions in force a backtest remembers,
// per kind (users, addresses, networks): beyond it the least recently
// used is forgotten, as the engine's stores forget at their caps.
const maxKeys = 1 << 20

// memories are the decisions in force the engine would hold in its state
// while deciding the stored events, so that a backtest leaves out the
// same quiet repeats and escalates the same offences as the engine did.
type memories struct {
	users, ips, nets *simplelru.LRU[string, *detectors.Decided]
}

func newMemories() *memories {
	m := &memories{}
	for _, c := range []**simplelru.LRU[string, *detectors.Decided]{&m.users, &m.ips, &m.nets} {
		*c, _ = simplelru.NewLRU[string, *detectors.Decided](maxKeys, nil)
	}
	return m
}

// keyMemory is one key's memory, a rules.Memory.
type keyMemory struct {
	cache *simplelru.LRU[string, *detectors.Decided]
	key   string
	net   *keyMemory // the address's network, for the address stage
}

// Remembered returns the key's list, creating it when alloc.
func (k *keyMemory) Remembered(alloc bool) *detectors.Decided {
	d, ok := k.cache.Get(k.key)
	if !ok && alloc {
		d = &detectors.Decided{}
		k.cache.Add(k.key, d)
	}
	return d
}

// NetworkRemembered returns the list of the address's network.
func (k *keyMemory) NetworkRemembered(alloc bool) *detectors.Decided {
	if k.net == nil {
		return nil
	}
	return k.net.Remembered(alloc)
}

// of returns the memory of ev's key on stage.
func (m *memories) of(stage rules.Stage, ev *event.Event) rules.Memory {
	if stage == rules.UserStage {
		return &keyMemory{cache: m.users, key: ev.UserID}
	}
	if !ev.IP.IsValid() {
		return nil
	}
	return &keyMemory{cache: m.ips, key: ev.IP.String(),
		net: &keyMemory{cache: m.nets, key: detectors.NetworkOf(ev.IP).String()}}
}
