package rules

import (
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

const networkRule = `
rules:
  - id: lock-network
    detector: failed_login_burst
    when: network.fired
    action: lockout
    subject: network
    score: 80
    expires: 1h
`

// addrMemory is an address stage's Memory: the address's decisions, and
// the network's (as detectors' address stage keeps them).
type addrMemory struct{ addr, net detectors.Decided }

func (m *addrMemory) Remembered(alloc bool) *detectors.Decided {
	if m.addr == nil && !alloc {
		return nil
	}
	return &m.addr
}

func (m *addrMemory) NetworkRemembered(alloc bool) *detectors.Decided {
	if m.net == nil && !alloc {
		return nil
	}
	return &m.net
}

// TestNetworkSubject: a rule reading network.* runs on the address stage
// and decides about the address's /24 or /48 with the network's evidence;
// a repeat from another address of the network is quiet when the Memory
// keeps the network's decisions apart.
func TestNetworkSubject(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": networkRule})
	if err != nil {
		t.Fatal(err)
	}
	if r := set.RuleByID("lock-network"); r.Stage != IPStage {
		t.Fatalf("a network rule runs on stage %s, want ip", r.Stage)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	attempt := func(addr string, offset time.Duration) (*event.Event, *detectors.Features) {
		ev := &event.Event{ID: addr + offset.String(), Type: event.Login, TS: at.Add(offset), UserID: "u", Outcome: event.Failure, IP: netip.MustParseAddr(addr)}
		f := &detectors.Features{}
		f.Network.Fired, f.Network.Summary, f.Network.Prefix = true, "distributed password spray", detectors.NetworkOf(ev.IP).String()
		return ev, f
	}
	for _, tt := range []struct{ addr, id string }{{"5.188.9.13", "5.188.9.0/24"}, {"2001:db8:7:1::9", "2001:db8:7::/48"}} {
		var e Evaluator
		ev, f := attempt(tt.addr, 0)
		ds := e.Evaluate(set, IPStage, ev, f, false, at, nil)
		if len(ds) != 1 || ds[0].Subject != (Subject{SubjectNetwork, tt.id}) || ds[0].Reasons[0].Summary != "distributed password spray" {
			t.Fatalf("%s: %+v", tt.addr, ds)
		}
		if _, ok := ds[0].Reasons[0].Evidence.(detectors.NetworkFeatures); !ok {
			t.Errorf("evidence %T, want the network's features", ds[0].Reasons[0].Evidence)
		}
	}

	shared := &addrMemory{}
	var e Evaluator
	e.Memory = shared
	ev, f := attempt("5.188.9.13", 0)
	if ds := e.Evaluate(set, IPStage, ev, f, false, at, nil); len(ds) != 1 {
		t.Fatalf("first: %+v", ds)
	}
	other := &addrMemory{net: shared.net}
	e.Memory = other
	ev, f = attempt("5.188.9.24", time.Minute)
	if ds := e.Evaluate(set, IPStage, ev, f, false, at, nil); len(ds) != 0 || e.Suppressed["lock-network"] != 1 {
		t.Errorf("a repeat from another address of the network: %+v, suppressed %v", ds, e.Suppressed)
	}
	if len(shared.addr) != 0 || len(other.addr) != 0 {
		t.Errorf("the network's decision was remembered by an address: %v %v", shared.addr, other.addr)
	}
}
