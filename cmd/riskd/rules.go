package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/rules/ruletest"
)

// rulesCheckCmd validates rule folders like `promtool check rules`: every
// problem with its file and line, exit 1 when there is any. A folder that
// loads is then decided on sample events (the ones built into the binary
// and any --samples files), and a rule that fails at run time on one of
// them is a problem too: the engine would skip it on such events.
func rulesCheckCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("rules", "", "folder of rule files (default: the shipped pack); folders may also be given as arguments")
	var extra appendFlag
	fs.Var(&extra, "samples", "more sample events to run the rules on: JSON Lines files, comma-separated or repeated")
	city := fs.String("geoip-city", "", "MaxMind DB of the City schema to locate the sample events (default: locations unknown, so impossible_travel and country checks abstain)")
	asn := fs.String("geoip-asn", "", "MaxMind DB of the ASN schema")
	dirs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		dirs = []string{*dir}
	}
	samples, err := readSamples(extra)
	if err != nil {
		return err
	}
	var opts []pipeline.Option
	if *city != "" || *asn != "" {
		db, warns := geoip.Open(*city, *asn)
		for _, w := range warns {
			fmt.Fprintf(stderr, "riskd: geoip: %v\n", w)
		}
		defer db.Close()
		opts = append(opts, pipeline.WithGeoCache(db, 10_000))
	}
	failed := 0
	for _, d := range dirs {
		if !checkFolder(stdout, d, samples, *city != "", opts) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("rule check failed: %d of %d rule folders have problems", failed, len(dirs))
	}
	return nil
}

// checkFolder loads dir (the shipped pack when empty), runs it on samples
// and prints what it found; it reports whether dir has no problem.
func checkFolder(w io.Writer, dir string, samples []ruletest.Sample, located bool, opts []pipeline.Option) bool {
	name := dir
	if name == "" {
		name = "shipped rules"
	}
	set, err := loadRules(dir)
	if err != nil {
		var le *rules.LoadError
		if !errors.As(err, &le) {
			fmt.Fprintf(w, "FAILED %s: %v\n", name, err)
			return false
		}
		for _, p := range le.Problems {
			fmt.Fprintln(w, p)
		}
		fmt.Fprintf(w, "FAILED %s: %d problem(s)\n", name, len(le.Problems))
		return false
	}
	rep := ruletest.Check(set, samples, opts...)
	for _, p := range rep.Problems() {
		fmt.Fprintln(w, p)
	}
	if rep.OK() {
		fmt.Fprintf(w, "SUCCESS %s: %d rules, version %s; no rule fails on %d sample events (%s)\n",
			name, len(set.Rules), set.Version, rep.Events, sampleSources(samples))
		for _, r := range set.Rules {
			fmt.Fprintf(w, "  %-36s %-18s %-8s %-7s %-7s stage=%-4s fired=%d\n", r.ID, r.Detector, r.Action, r.Subject, r.Mode, r.Stage, rep.Fired[r.ID])
		}
	}
	if rep.Rejected > 0 {
		fmt.Fprintf(w, "  %d sample lines refused and skipped, e.g. %s\n", rep.Rejected, rep.Rejection)
	}
	printSilent(w, set, &rep, located)
	if !rep.OK() {
		fmt.Fprintf(w, "FAILED %s: %d of %d rules fail at run time on the sample events, which skips them there\n", name, len(rep.Failures), len(set.Rules))
	}
	return rep.OK()
}

// printSilent lists the rules that fired on no sample event and did not
// fail either: no error, but worth a look.
func printSilent(w io.Writer, set *rules.Set, rep *ruletest.CheckReport, located bool) {
	failing := map[*rules.Rule]bool{}
	for _, f := range rep.Failures {
		failing[f.Rule] = true
	}
	var lines []string
	for _, r := range rep.Silent(set) {
		if !failing[r] {
			lines = append(lines, fmt.Sprintf("    %s:%d: %s", r.File, r.Line, r.ID))
		}
	}
	if len(lines) == 0 {
		return
	}
	hint := ""
	if !located {
		hint = "; the samples have no location without --geoip-city"
	}
	fmt.Fprintf(w, "  %d rule(s) never fired on the samples (not an error, but check that the condition can hold%s):\n%s\n",
		len(lines), hint, strings.Join(lines, "\n"))
}

// readSamples returns the built-in sample events followed by those of
// files, in order.
func readSamples(files []string) ([]ruletest.Sample, error) {
	samples := ruletest.SplitSamples(rules.SamplesName, rules.Samples())
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--samples: %w", err)
		}
		samples = append(samples, ruletest.SplitSamples(f, data)...)
	}
	return samples, nil
}

// sampleSources names the files samples came from, in order.
func sampleSources(samples []ruletest.Sample) string {
	var names []string
	for i, s := range samples {
		if i == 0 || s.Source != samples[i-1].Source {
			names = append(names, s.Source)
		}
	}
	return strings.Join(names, ", ")
}

// parseInterleaved parses args with fs, allowing flags after the
// positional arguments (`rules check DIR --samples F`), and returns the
// positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// appendFlag is a comma-separated list that repeating the flag extends
// (listFlag's value is replaced instead).
type appendFlag []string

func (l *appendFlag) String() string { return strings.Join(*l, ",") }

func (l *appendFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
