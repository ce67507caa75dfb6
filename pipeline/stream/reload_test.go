package stream_test

import (
	"errors"
	"testing"

	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/rules"
)

// TestSetRules holds what a hot reload may change: the rules, at once for
// every worker's next batch, but not the detector settings, which size and
// shape the state in memory (refused with ErrDetectorsChanged, the rules
// in force staying).
func TestSetRules(t *testing.T) {
	b := streamtest.Embedded(t)
	s := streamtest.NewMember(t, b, streamtest.NewTopics(t, b), "set-rules", false)
	load := func() *rules.Set {
		set, err := rules.Load(testenv.Rules)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	fewer := load()
	fewer.Rules, fewer.Version = fewer.Rules[:1], "fewer"
	otherCaps := load()
	otherCaps.Detectors.State.MaxUsers++
	otherCaps.Version = "other-caps"
	for _, tt := range []struct {
		name string
		set  *rules.Set
		err  error
		want string // the version in force after
	}{
		{"rules changed", fewer, nil, "fewer"},
		{"detector settings changed", otherCaps, stream.ErrDetectorsChanged, "fewer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetRules(tt.set); !errors.Is(err, tt.err) {
				t.Fatalf("SetRules: %v, want %v", err, tt.err)
			}
			if got := s.Rules().Version; got != tt.want {
				t.Errorf("version in force %s, want %s", got, tt.want)
			}
		})
	}
}
