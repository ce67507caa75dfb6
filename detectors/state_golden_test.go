package detectors

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

var updateState = flag.Bool("update-state", false, "rewrite testdata/state.golden from this build")

// goldenEvents exercises every part of both states: logins from places and
// devices, failures from addresses, tokens issued, used elsewhere and
// after logout, a refresh token presented twice, transactions to payees.
func goldenEvents() []event.Event {
	evs := []event.Event{
		ev("1", event.Login, 0, at(newYork)),
		ev("2", event.Login, time.Minute, failed, ip("198.51.100.7")),
		ev("3", event.Login, 2*time.Minute, failed, ip("198.51.100.8"), user("bob")),
		ev("4", event.TokenIssue, 3*time.Minute, at(newYork), token("t1")),
		ev("5", event.TokenUse, 4*time.Minute, at(london), token("t1"), device("laptop")),
		ev("6", event.Logout, 5*time.Minute, token("t1")),
		ev("7", event.TokenUse, 6*time.Minute, token("t2")),
		ev("8", event.TokenRefresh, 7*time.Minute, refreshOf("r1", "F")),
		ev("9", event.TokenRefresh, 8*time.Minute, refreshOf("r1", "F")),
		ev("10", event.Transaction, 9*time.Minute, pay(12.5, "p1")),
		ev("11", event.Transaction, 70*time.Minute, pay(99, "p2"), device("laptop")),
		ev("12", event.Login, 2*time.Hour, at(berlin), device("tablet")),
		ev("13", event.Login, 25*time.Hour, at(paris6), ip("2001:db8::1"), user("carol")),
	}
	for i := range 20 {
		evs = append(evs, ev(fmt.Sprint("d", i), event.Login, 26*time.Hour+time.Duration(i)*time.Second, user("dave"), ip("192.0.2.1")))
	}
	return evs
}

// goldenConfig is Defaults with the long windows no longer than the short
// ones and the address TTL of the builds that wrote the golden states:
// the golden holds the encoding, and longer windows keep more attempts.
func goldenConfig() Config {
	c := Defaults()
	c.FailedLoginBurst.LongWindow = c.FailedLoginBurst.Window
	c.FailedLoginBurst.SprayLongWindow = c.FailedLoginBurst.SprayWindow
	c.State.IPTTL = Duration(2 * time.Hour)
	return c
}

// goldenStates runs goldenEvents through both stages and returns each
// key's encoded state, by "user KEY" and "ip KEY"; with nets, the
// networks' too, by "net KEY".
func goldenStates(t *testing.T, nets ...bool) map[string][]byte {
	u, p := NewUsers(goldenConfig()), NewIPs(goldenConfig())
	for _, e := range goldenEvents() {
		f := &Features{}
		u.Process(&e, f)
		if Wants(&e) {
			p.Process(&e, f)
		}
	}
	out := map[string][]byte{}
	for _, k := range u.Store().lru.keys() {
		v, _ := u.Store().Peek(k)
		out["user "+k], _ = v.MarshalBinary()
	}
	for _, k := range p.Store().lru.keys() {
		v, _ := p.Store().Peek(k)
		out["ip "+k.String()], _ = v.MarshalBinary()
	}
	for _, k := range p.Networks().lru.keys() {
		if len(nets) > 0 && nets[0] {
			v, _ := p.Networks().Peek(k)
			out["net "+k.String()], _ = v.MarshalBinary()
		}
	}
	return out
}

// TestNetStateGolden holds the network states' encoding to
// testdata/netstate.golden: in version 2, those of goldenEvents and one
// with every field set, decisions included, which decode and encode back
// to the same bytes; in version 1 (no addresses), lines the build of
// 39f9fe1 wrote, which must still decode, to the same state with no
// addresses. -update-state rewrites the version 2 lines only.
func TestNetStateGolden(t *testing.T) {
	const path = "testdata/netstate.golden"
	states := map[string][]byte{}
	for name, b := range goldenStates(t, true) {
		if strings.HasPrefix(name, "net ") {
			states[name+" v2"] = b
		}
	}
	filled := NetState{Last: 1_772_000_000_000, Attempts: []NetAttempt{{TS: 1_771_999_000_000, User: 42, Addr: 9, Failure: true}, {TS: 1_772_000_000_000, User: 7, Addr: 11}}}
	filled.Remembered(true).Record(SubjectHash("network", "192.0.2.0/24"), 2, 1_772_000_000_000, 1_772_003_600_000, 86_400_000)
	states["net filled v2"], _ = filled.MarshalBinary()
	want := readGolden(t, path)
	if *updateState {
		var lines []string
		for name, b := range states {
			lines = append(lines, fmt.Sprintf("%s %x", name, b))
		}
		for name, b := range want {
			if strings.HasSuffix(name, " v1") {
				lines = append(lines, fmt.Sprintf("%s %x", name, b))
			}
		}
		slices.Sort(lines)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want = readGolden(t, path)
	}
	for name, b := range states {
		if w := want[name]; !bytes.Equal(b, w) {
			t.Errorf("%s: state encodes as\n%x\nwant\n%x", name, b, w)
		}
	}
	for name, w := range want {
		var s NetState
		if err := s.UnmarshalBinary(w); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := s.MarshalBinary()
		if strings.HasSuffix(name, " v2") && !bytes.Equal(b, w) {
			t.Errorf("%s: decodes and encodes as\n%x\nwant\n%x", name, b, w)
		}
		if strings.HasSuffix(name, " v1") {
			var again NetState
			if err := again.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(again, s) || len(s.Attempts) == 0 {
				t.Errorf("%s: version 1 read as %+v, which encodes and decodes as %+v (%v)", name, s, again, err)
			}
			for _, a := range s.Attempts {
				if a.Addr != 0 || a.User == 0 {
					t.Errorf("%s: version 1 attempt read as %+v", name, a)
				}
			}
		}
	}
}

// TestStateGolden holds the state encodings to testdata/state.golden: the
// states of goldenEvents, which remember no decision, byte for byte as the
// build before the compact UserState (410f422) wrote them in version 2;
// states with every field set in version 3, which must decode and encode
// back to the same bytes; and the same states without the decisions of
// version 3, in version 2 and in version 1's JSON, which must decode and
// encode back to those version 2 bytes.
func TestStateGolden(t *testing.T) {
	const path = "testdata/state.golden"
	if *updateState {
		writeGolden(t, path)
	}
	want := readGolden(t, path)
	for name, b := range goldenStates(t) {
		if w := want[name+" v2"]; !bytes.Equal(b, w) {
			t.Errorf("%s: state encodes as\n%x\nwant\n%x", name, b, w)
		}
	}
	for name, in := range want {
		base, version, _ := strings.Cut(name, " v")
		wantBytes := want[base+" v2"]
		if version == "3" {
			wantBytes = in
		}
		var s state = &UserState{}
		if strings.HasPrefix(name, "ip ") {
			s = &IPState{}
		}
		if err := s.UnmarshalBinary(in); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b, _ := s.MarshalBinary(); !bytes.Equal(b, wantBytes) {
			t.Errorf("%s: decodes and encodes as\n%x\nwant\n%x", name, b, wantBytes)
		}
	}
}

func readGolden(t *testing.T, path string) map[string][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		i := strings.LastIndexByte(sc.Text(), ' ')
		b, err := hex.DecodeString(sc.Text()[i+1:])
		if i < 0 || err != nil {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out[sc.Text()[:i]] = b
	}
	return out
}

// writeGolden writes the golden file from this build. Its version 2 and 1
// lines are those of states without decisions, which this build writes as
// the build before version 3 did; the test above holds them to that.
func writeGolden(t *testing.T, path string) {
	lines := []string{}
	for name, b := range goldenStates(t) {
		lines = append(lines, fmt.Sprintf("%s v2 %x", name, b))
	}
	for _, s := range []state{&UserState{}, &IPState{}} {
		seed := 0
		fillState(s, &seed, false)
		name := "ip filled"
		if u, ok := s.(*UserState); ok {
			u.RecentPos, name = 5, "user filled"
		}
		b3, _ := s.MarshalBinary()
		*s.(interface{ Remembered(bool) *Decided }).Remembered(true) = nil
		b, _ := s.MarshalBinary()
		j, _ := json.Marshal(s)
		lines = append(lines, fmt.Sprintf("%s v3 %x", name, b3), fmt.Sprintf("%s v2 %x", name, b), fmt.Sprintf("%s v1 %x", name, append([]byte{jsonStateVersion}, j...)))
	}
	slices.Sort(lines)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
