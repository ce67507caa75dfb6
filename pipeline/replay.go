package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/rules"
)

// Summary counts what a replay read and decided.
type Summary struct {
	Events     int // lines holding an event, accepted or not
	Accepted   int
	Rejected   int
	Duplicates int
	Rejections map[string]int // by reason
	Actions    map[string]int // decisions by action
	Modes      map[string]int // decisions by mode
	Decisions  int
	Elapsed    time.Duration
	// RuleErrors counts, by rule id, the events a rule failed on and was
	// skipped for; State is the engine's state at the end.
	RuleErrors map[string]uint64
	State      StateStats
	// Suppressed counts, by rule id, the decisions left out as quiet
	// repeats; Demoted lists the rules the lockout breaker demoted.
	Suppressed map[string]uint64
	Demoted    []rules.Demotion
}

// String is the summary printed on stderr.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay: %d events read, %d accepted, %d rejected, %d duplicates; %d decisions", s.Events, s.Accepted, s.Rejected, s.Duplicates, s.Decisions)
	for _, m := range []map[string]int{s.Actions, s.Modes, s.Rejections} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			continue
		}
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", k, m[k])
		}
		b.WriteString(")")
	}
	if s.Elapsed > 0 && s.Events > 0 {
		fmt.Fprintf(&b, " in %s, %.0f events/s", s.Elapsed.Round(time.Millisecond), float64(s.Events)/s.Elapsed.Seconds())
	}
	st := s.State
	fmt.Fprintf(&b, "\nreplay: state of %d users, %d addresses and %d networks; evicted (caps full) %d users, %d addresses; expired %d users, %d addresses",
		st.Users, st.IPs, st.Networks, st.UserEvictions, st.IPEvictions, st.UserExpirations, st.IPExpirations)
	byRule(&b, "\nreplay: rules skipped on events where they failed (check them with riskd rules check):", s.RuleErrors)
	byRule(&b, "\nreplay: quiet repeats left out (decisions asking for nothing more than one in force), by rule:", s.Suppressed)
	for _, d := range s.Demoted {
		fmt.Fprintf(&b, "\nreplay: rule %s demoted to shadow by the lockout breaker at %s: %s", d.Rule, d.At.UTC().Format(time.RFC3339), d.Why)
	}
	return b.String()
}

// byRule writes head and the counts of m by rule id, when m has any.
func byRule(b *strings.Builder, head string, m map[string]uint64) {
	if len(m) == 0 {
		return
	}
	b.WriteString(head)
	for _, id := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, " %s %d", id, m[id])
	}
}

// ReplayConfig wires a replay.
type ReplayConfig struct {
	Engine   *Engine
	Input    io.Reader
	Output   func([]rules.Decision) error // receives each event's decisions
	Rejected func(line int, err error)    // receives each rejected line
	Progress func(Summary)                // called about once a second, may be nil
	Now      func() time.Time             // wall clock for decided_at; time.Now when nil
}

// maxLine bounds one event, as Kafka's message size bounds it when
// streaming; a longer line is rejected (too_large), not fatal.
const maxLine = event.MaxEventBytes

// Replay decides on every line of Input in order, as the streaming path
// would for the same per-user order. Bad lines are reported and skipped;
// only read and output errors stop it.
func Replay(ctx context.Context, c ReplayConfig) (Summary, error) {
	s := Summary{Rejections: map[string]int{}, Actions: map[string]int{}, Modes: map[string]int{}}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	start := time.Now()
	lastProgress := start
	batches, free, stop := decodeAhead(c.Input)
	defer stop()
	var out []rules.Decision
	for b := range batches {
		for i := range b.items {
			it := &b.items[i]
			if it.fatal != nil {
				return s, it.fatal
			}
			var err error
			if out, err = c.decide(&s, it, now(), out); err != nil {
				return s, err
			}
			if s.Events%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return s, err
				}
				if c.Progress != nil && time.Since(lastProgress) >= time.Second {
					lastProgress = time.Now()
					s.Elapsed = time.Since(start)
					c.Progress(s)
				}
			}
		}
		free <- b
	}
	s.Elapsed = time.Since(start)
	s.State, s.RuleErrors = c.Engine.Stats(), c.Engine.RuleErrors()
	s.Suppressed, s.Demoted = c.Engine.Suppressed(), c.Engine.Breaker().Demotions()
	return s, nil
}

// decide decides on one decoded line with the engine, counts it in s and
// hands its decisions to Output, reusing out; the error is Output's.
func (c *ReplayConfig) decide(s *Summary, it *decoded, now time.Time, out []rules.Decision) ([]rules.Decision, error) {
	s.Events++
	err := it.err
	if err == nil {
		// Admission (a forged timestamp) refuses like the decoder.
		out, err = c.Engine.Decide(&it.ev, now, out[:0])
	}
	if err != nil {
		s.Rejected++
		s.Rejections[event.ReasonOf(err)]++
		if c.Rejected != nil {
			c.Rejected(it.line, err)
		}
		return out, nil
	}
	s.Accepted++
	if c.Engine.Features().Stream.Duplicate {
		s.Duplicates++
	}
	for _, d := range out {
		s.Decisions++
		s.Actions[d.Action.String()]++
		s.Modes[string(d.Mode)]++
	}
	if len(out) > 0 {
		return out, c.Output(out)
	}
	return out, nil
}

// decoded is one non-blank line, decoded (err is its rejection), or the
// read error that ends the input (fatal).
type decoded struct {
	line  int
	ev    event.Event
	err   error
	fatal error
}

type lineBatch struct{ items []decoded }

const batchSize = 256

// decodeAhead reads and decodes the input on its own goroutine, in batches
// delivered in input order, so that decoding the next events overlaps
// deciding on these. Batches go back through free; stop ends the reader.
func decodeAhead(in io.Reader) (<-chan *lineBatch, chan<- *lineBatch, func()) {
	const depth = 4
	batches := make(chan *lineBatch, depth)
	free := make(chan *lineBatch, depth+2)
	for range depth + 2 {
		free <- &lineBatch{items: make([]decoded, 0, batchSize)}
	}
	done := make(chan struct{})
	go func() {
		defer close(batches)
		r := bufio.NewReaderSize(in, 64<<10)
		var b *lineBatch
		send := func() bool {
			select {
			case batches <- b:
				b = nil
				return true
			case <-done:
				return false
			}
		}
		for line := 1; ; line++ {
			if b == nil {
				select {
				case b = <-free:
					b.items = b.items[:0]
				case <-done:
					return
				}
			}
			data, err := readLine(r)
			if err == io.EOF && len(data) == 0 {
				break
			}
			if err != nil && err != io.EOF && err != errLineTooLong {
				b.items = append(b.items, decoded{fatal: fmt.Errorf("line %d: %w", line, err)})
				send()
				return
			}
			if len(bytes.TrimSpace(data)) == 0 && err != errLineTooLong {
				continue
			}
			b.items = append(b.items, decoded{line: line})
			it := &b.items[len(b.items)-1]
			if err == errLineTooLong {
				it.err = &event.Error{Reason: event.ReasonTooLarge, Problem: fmt.Sprintf("line longer than %d bytes", maxLine)}
			} else {
				it.ev, it.err = event.Decode(data)
			}
			if len(b.items) == batchSize && !send() {
				return
			}
		}
		if b != nil && len(b.items) > 0 {
			send()
		}
	}()
	return batches, free, func() { close(done) }
}

var errLineTooLong = fmt.Errorf("line too long")

// readLine returns the next line without its newline. A line longer than
// maxLine is consumed and reported as errLineTooLong.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			return []byte{}, errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			buf = append(buf, chunk...)
			continue
		}
		if buf != nil {
			chunk = append(buf, chunk...)
		}
		return bytes.TrimRight(chunk, "\r\n"), err
	}
}
