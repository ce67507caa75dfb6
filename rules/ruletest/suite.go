package ruletest

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// IsTestFile reports whether name is a rule unit-test file that Discover
// finds in a folder: NAME.test.yaml or NAME.test.yml.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// Discover expands paths into test files: a folder gives every test file
// under it (IsTestFile, recursively, in name order), a file is taken as
// it is, whatever its name. Each file comes once. A path that does not
// exist, or a folder holding no test file, is an error of its own in
// problems; the other paths are still expanded.
func Discover(paths []string) (files []string, problems []error) {
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[filepath.Clean(f)] {
			seen[filepath.Clean(f)] = true
			files = append(files, f)
		}
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: no such file or folder (pass rule test files or folders holding *.test.yaml files)", p))
			continue
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsTestFile(d.Name()) {
				found = append(found, path)
			}
			return nil
		})
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", p, err))
		case len(found) == 0:
			problems = append(problems, fmt.Errorf("%s: no *.test.yaml file under this folder (name rule test files NAME.test.yaml, or pass the file itself)", p))
		}
		for _, f := range found {
			add(f)
		}
	}
	return files, problems
}

// FileResult is what running one test file gave.
type FileResult struct {
	Path     string
	Tests    int           // cases run
	Failures []CaseFailure // expectations that did not hold
	Err      error         // the file or its rules could not be read; no case ran
}

// Report is what RunFiles found: each file's result, and the coverage of
// each rule set the files test, in the order first named.
type Report struct {
	Files    []FileResult
	Coverage []*Coverage
}

// Failed returns the files whose tests did not all pass.
func (r *Report) Failed() int {
	n := 0
	for _, f := range r.Files {
		if f.Err != nil || len(f.Failures) > 0 {
			n++
		}
	}
	return n
}

// Tests returns how many cases ran in all.
func (r *Report) Tests() int {
	n := 0
	for _, f := range r.Files {
		n += f.Tests
	}
	return n
}

// Coverage says, for one rule set, where tests show each rule firing and
// where they show it staying quiet. A rule is covered when both hold:
//
//   - it fires: an expect entry lists it under rules, and the expectation
//     holds (the decision is there, with the rule among its reasons);
//   - it stays quiet: an absent entry of the form {event_id, rules} lists
//     it, and the expectation holds (the event was decided, and the rule
//     neither fired nor failed on it).
//
// Rules fired by the way, and plain absent entries (no decision at all),
// do not count: coverage is what a test states, not what it happens to do.
type Coverage struct {
	Rules string     // the rule folder as the test files name it, or "the shipped pack"
	Set   *rules.Set // the rules, as loaded
	Fired map[string]string
	Quiet map[string]string
}

// Gap is a rule that Coverage does not cover, and what it lacks.
type Gap struct {
	Rule            *rules.Rule
	NoFire, NoQuiet bool
}

// Gaps returns the rules of c not covered, in the set's order.
func (c *Coverage) Gaps() []Gap {
	var gaps []Gap
	for _, r := range c.Set.Rules {
		g := Gap{Rule: r, NoFire: c.Fired[r.ID] == "", NoQuiet: c.Quiet[r.ID] == ""}
		if g.NoFire || g.NoQuiet {
			gaps = append(gaps, g)
		}
	}
	return gaps
}

// RunFiles runs the test files at paths, each case in an engine of its
// own, and gathers the coverage of the rule sets they test. A rule folder
// named by several files is loaded once, so their coverage adds up.
func RunFiles(paths []string) *Report {
	rep := &Report{}
	byKey := map[string]*Coverage{}
	for _, path := range paths {
		res := FileResult{Path: path}
		f, err := readFile(path)
		var cov *Coverage
		if err == nil {
			cov, err = coverageFor(f, path, byKey, rep)
		}
		var db *geoip.DB
		if err == nil {
			db, err = f.openGeo(path)
		}
		if err != nil {
			res.Err = err
			rep.Files = append(rep.Files, res)
			continue
		}
		for i := range f.Tests {
			cr := f.Tests[i].run(path, cov.Set, db)
			res.Tests++
			res.Failures = append(res.Failures, cr.failures...)
			for id, at := range cr.fired {
				cov.Fired[id] = cmp.Or(cov.Fired[id], at)
			}
			for id, at := range cr.quiet {
				cov.Quiet[id] = cmp.Or(cov.Quiet[id], at)
			}
		}
		db.Close()
		rep.Files = append(rep.Files, res)
	}
	return rep
}

// coverageFor returns the Coverage of the rule folder f (read from path)
// names, loading it when no earlier file named it.
func coverageFor(f *File, path string, byKey map[string]*Coverage, rep *Report) (*Coverage, error) {
	key, name := "", "the shipped pack"
	if f.Rules != "" {
		name = rel(path, f.Rules)
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, err
		}
		key = abs
	}
	if c := byKey[key]; c != nil {
		return c, nil
	}
	var set *rules.Set
	var err error
	if key == "" {
		set, err = rules.Shipped()
	} else {
		set, err = rules.Load(name)
	}
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("rules %s do not load (run riskd rules check %s):\n  %s", name, name, strings.Join(le.Problems, "\n  "))
		}
		return nil, fmt.Errorf("rules %s: %w (fix rules: in the test file, a folder relative to it)", name, err)
	}
	c := &Coverage{Rules: name, Set: set, Fired: map[string]string{}, Quiet: map[string]string{}}
	byKey[key] = c
	rep.Coverage = append(rep.Coverage, c)
	return c, nil
}

// rel resolves p, a path written in the test file at path, against the
// file's folder: paths in the file are relative to it, not to the working
// directory.
func rel(path, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(path), p)
}

// openGeo opens the GeoIP databases that f, read from path, names. A
// database that cannot be read is an error here, unlike in the engine, so
// that a wrong path is reported as such rather than as failed
// expectations.
func (f *File) openGeo(path string) (*geoip.DB, error) {
	db, warns := geoip.Open(rel(path, f.GeoIPCity), rel(path, f.GeoIPASN))
	if len(warns) > 0 {
		db.Close()
		return nil, fmt.Errorf("%v (fix geoip_city or geoip_asn in the test file: paths there are relative to it)", warns[0])
	}
	return db, nil
}
