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

func replayCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, log zerolog.Logger) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.String("events", "", "JSON Lines events to replay, in file order (- for stdin)")
	city := fs.String("geoip-city", "", "MaxMind DB of the GeoIP2/GeoLite2 City schema")
	asn := fs.String("geoip-asn", "", "MaxMind DB of the GeoLite2 ASN schema")
	rulesDir := fs.String("rules", "", "folder of rule files (default: the rule pack shipped in rules/)")
	emit := fs.String("emit", "non-allow", "which decisions to write: non-allow or all")
	out := fs.String("out", "", "write decisions to this file instead of stdout")
	labels := fs.String("labels", "", "labels of the events (as testdata/scenarios/labels.json): print what was caught on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *events == "" {
		return usageError("replay needs --events FILE (or - for stdin)")
	}
	if *emit != "all" && *emit != "non-allow" {
		return usageError(fmt.Sprintf("--emit must be all or non-allow, not %q", *emit))
	}
	set, err := loadRules(*rulesDir)
	if err != nil {
		return err
	}
	db := openGeoIP(*city, *asn, log)
	defer db.Close()

	in, w, closeFiles, err := replayFiles(*events, *out, stdin, stdout)
	if err != nil {
		return err
	}
	defer closeFiles()
	sink := alerting.NewJSONLines(w)
	output := sink.Write
	var all []rules.Decision
	if *labels != "" {
		output = func(ds []rules.Decision) error {
			all = append(all, ds...)
			return sink.Write(ds)
		}
	}
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 100_000), pipeline.WithEmitAll(*emit == "all"),
		pipeline.WithRuleErrors(firstRuleErrors(stderr)))
	cfg := pipeline.ReplayConfig{
		Engine: eng,
		Input:  in,
		Output: output,
		Rejected: func(line int, err error) {
			fmt.Fprintf(stderr, "%s:%d: rejected: %v\n", displayName(*events), line, err)
		},
	}
	progress := isTerminal(stderr)
	if progress {
		cfg.Progress = func(s pipeline.Summary) {
			fmt.Fprintf(stderr, "\r%d events, %d decisions, %.0f events/s ", s.Events, s.Decisions, float64(s.Events)/s.Elapsed.Seconds())
		}
	}
	sum, err := pipeline.Replay(ctx, cfg)
	if ferr := sink.Flush(); err == nil {
		err = ferr
	}
	if progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	fmt.Fprintln(stderr, sum.String())
	if *labels != "" && err == nil {
		err = printScore(stderr, *labels, all)
	}
	return err
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
