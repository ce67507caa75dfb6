package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// replayFlags are the settings of `riskd replay`.
type replayFlags struct {
	events, city, asn, rulesDir, emit, out, labels string
}

// parseReplayFlags parses and checks the command line of `riskd replay`;
// a missing --events or a bad --emit is a usage error, so that the usage
// is printed with it.
func parseReplayFlags(args []string, stderr io.Writer) (*replayFlags, error) {
	f := &replayFlags{}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.events, "events", "", "JSON Lines events to replay, in file order (- for stdin)")
	fs.StringVar(&f.city, "geoip-city", "", "MaxMind DB of the GeoIP2/GeoLite2 City schema")
	fs.StringVar(&f.asn, "geoip-asn", "", "MaxMind DB of the GeoLite2 ASN schema")
	fs.StringVar(&f.rulesDir, "rules", "", "folder of rule files (default: the rule pack shipped in rules/)")
	fs.StringVar(&f.emit, "emit", "non-allow", "which decisions to write: non-allow or all")
	fs.StringVar(&f.out, "out", "", "write decisions to this file instead of stdout")
	fs.StringVar(&f.labels, "labels", "", "labels of the events (as testdata/scenarios/labels.json): print what was caught on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.events == "" {
		return nil, usageError("replay needs --events FILE (or - for stdin)")
	}
	if f.emit != "all" && f.emit != "non-allow" {
		return nil, usageError(fmt.Sprintf("--emit must be all or non-allow, not %q", f.emit))
	}
	return f, nil
}

// replayCmd is `riskd replay`: the engine on a file of events (or stdin),
// offline and in file order, writing the decisions as JSON Lines and a
// summary on stderr, and with --labels what was caught.
func replayCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, log zerolog.Logger) error {
	f, err := parseReplayFlags(args, stderr)
	if err != nil {
		return err
	}
	set, err := loadRules(f.rulesDir)
	if err != nil {
		return err
	}
	db := openGeoIP(f.city, f.asn, log)
	defer db.Close()

	in, w, closeFiles, err := replayFiles(f.events, f.out, stdin, stdout)
	if err != nil {
		return err
	}
	defer closeFiles()
	sink := alerting.NewJSONLines(w)
	output := sink.Write
	var all []rules.Decision
	if f.labels != "" {
		// Kept for the score, which needs every decision at the end.
		output = func(ds []rules.Decision) error {
			all = append(all, ds...)
			return sink.Write(ds)
		}
	}
	cfg := f.replayConfig(set, db, in, output, stderr)
	sum, err := pipeline.Replay(ctx, cfg)
	if ferr := sink.Flush(); err == nil {
		err = ferr
	}
	if cfg.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K") // clears the progress line
	}
	fmt.Fprintln(stderr, sum.String())
	if f.labels != "" && err == nil {
		err = printScore(stderr, f.labels, all)
	}
	return err
}

// replayConfig wires the engine to in and output, reporting rejected lines
// and rule errors on stderr; progress is shown only at a terminal, where
// the line is overwritten in place rather than piling up in a log.
func (f *replayFlags) replayConfig(set *rules.Set, db *geoip.DB, in io.Reader, output func([]rules.Decision) error, stderr io.Writer) pipeline.ReplayConfig {
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 100_000), pipeline.WithEmitAll(f.emit == "all"),
		pipeline.WithRuleErrors(firstRuleErrors(stderr)))
	cfg := pipeline.ReplayConfig{
		Engine: eng,
		Input:  in,
		Output: output,
		Rejected: func(line int, err error) {
			fmt.Fprintf(stderr, "%s:%d: rejected: %v\n", displayName(f.events), line, err)
		},
	}
	if isTerminal(stderr) {
		cfg.Progress = func(s pipeline.Summary) {
			fmt.Fprintf(stderr, "\r%d events, %d decisions, %.0f events/s ", s.Events, s.Decisions, float64(s.Events)/s.Elapsed.Seconds())
		}
	}
	return cfg
}

// replayFiles opens the events to read (stdin for "-") and the file to
// write decisions to (stdout when out is empty); closeFiles closes what it
// opened.
func replayFiles(events, out string, stdin io.Reader, stdout io.Writer) (in io.Reader, w io.Writer, closeFiles func(), err error) {
	var opened []*os.File
	closeFiles = func() {
		for _, f := range opened {
			f.Close()
		}
	}
	in, w = stdin, stdout
	if events != "-" {
		f, err := os.Open(events)
		if err != nil {
			return nil, nil, closeFiles, err
		}
		opened, in = append(opened, f), f
	}
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			closeFiles()
			return nil, nil, func() {}, err
		}
		opened, w = append(opened, f), f
	}
	return in, w, closeFiles, nil
}

// firstRuleErrors reports the first event each rule failed on; the rule is
// skipped for that event (the other rules decide) and the summary counts
// the rest.
func firstRuleErrors(stderr io.Writer) func(*rules.Rule, *event.Event, error) {
	told := map[string]bool{}
	return func(r *rules.Rule, ev *event.Event, err error) {
		if told[r.ID] {
			return
		}
		told[r.ID] = true
		// Quoted and cut: the event id and an expression's error can carry
		// what a client sent, control characters included.
		fmt.Fprintf(stderr, "replay: event %q: %.300q (rule skipped; later failures of this rule are counted in the summary)\n", ev.ID, err.Error())
	}
}

// displayName is how rejected lines name their source: "stdin" reads
// better than "-" in file:line messages.
func displayName(events string) string {
	if events == "-" {
		return "stdin"
	}
	return events
}

// openGeoIP opens the GeoIP databases, logging what is missing: a missing
// database is a warning, never fatal.
func openGeoIP(city, asn string, log zerolog.Logger) *geoip.DB {
	if city == "" {
		log.Warn().Msg("no --geoip-city: locations are unknown, so impossible_travel and location checks abstain")
	}
	db, warns := geoip.Open(city, asn)
	for _, w := range warns {
		log.Warn().Err(w).Msg("geoip")
	}
	return db
}

// loadRules loads dir, or the shipped pack when dir is empty.
func loadRules(dir string) (*rules.Set, error) {
	if dir == "" {
		return rules.Shipped()
	}
	return rules.Load(dir)
}

// printScore prints how many of the labelled attacks in path the
// decisions ds caught, so that a rule change can be judged on sample
// traffic without a broker.
func printScore(w io.Writer, path string, ds []rules.Decision) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var l scenario.Labels
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "labelled attacks caught (decision naming the expected detector, at least the expected action):\n%s", scenario.Score(l, ds))
	return nil
}
