package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func replayInput(t *testing.T, in io.Reader) (pipeline.Summary, []int, []string, error) {
	t.Helper()
	var lines []int
	var reasons []string
	sum, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
		Engine: pipeline.NewEngine(testenv.LoadRules(t, testenv.Rules)), Input: in,
		Output:   func([]rules.Decision) error { return nil },
		Rejected: func(line int, err error) { lines, reasons = append(lines, line), append(reasons, event.ReasonOf(err)) },
		Now:      testenv.Now,
	})
	return sum, lines, reasons, err
}

// TestReplayLinesInOrder checks that decoding ahead on another goroutine
// keeps line numbers, blank lines and rejections in input order, across
// many batches.
func TestReplayLinesInOrder(t *testing.T) {
	good := `{"event_id":"e%d","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"u1","outcome":"success","ip":"81.2.69.160"}`
	var in strings.Builder
	var wantLines []int
	for i := 1; i <= 3000; i++ {
		switch {
		case i%7 == 0:
			in.WriteString("\n") // blank: skipped, still counted as a line
		case i%11 == 0:
			in.WriteString("{not json}\n")
			wantLines = append(wantLines, i)
		case i == 2500:
			in.WriteString(`{"pad":"` + strings.Repeat("x", event.MaxEventBytes+10) + "\"}\n")
			wantLines = append(wantLines, i)
		default:
			fmt.Fprintf(&in, good+"\n", i)
		}
	}
	sum, lines, reasons, err := replayInput(t, strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lines) != fmt.Sprint(wantLines) {
		t.Fatalf("rejected lines %v, want %v", lines, wantLines)
	}
	for i, l := range lines {
		if want := l == 2500; (reasons[i] == event.ReasonTooLarge) != want {
			t.Errorf("line %d rejected as %s", l, reasons[i])
		}
	}
	if sum.Events != sum.Accepted+sum.Rejected || sum.Rejected != len(wantLines) {
		t.Errorf("summary %+v", sum)
	}
}

// TestReplayReadError checks that a read error ends the replay with the
// line it happened on, after the lines before it were decided.
func TestReplayReadError(t *testing.T) {
	broken := errors.New("disk on fire")
	data := bytes.Repeat([]byte("{}\n"), 600)
	sum, _, _, err := replayInput(t, &failingReader{data: data, err: broken})
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "line 601") {
		t.Fatalf("error %v, want line 601: %v", err, broken)
	}
	if sum.Events != 600 {
		t.Errorf("%d events before the error, want 600", sum.Events)
	}
}
