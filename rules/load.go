package rules

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/detectors"
)

// fileSpec is the layout of a rule file. A file may hold rules, detector
// parameters, or both.
type fileSpec struct {
	Detectors yaml.Node  `yaml:"detectors"`
	Rules     []ruleSpec `yaml:"rules"`
}

type ruleSpec struct {
	ID          string  `yaml:"id"`
	Description string  `yaml:"description"`
	Detector    string  `yaml:"detector"`
	When        string  `yaml:"when"`
	Action      string  `yaml:"action"`
	Subject     string  `yaml:"subject"`
	Score       float64 `yaml:"score"`
	Expires     string  `yaml:"expires"`
	Mode        string  `yaml:"mode"`
}

// LoadError lists every problem found in a rule folder, each prefixed with
// file:line, so an analyst can fix them all in one pass.
type LoadError struct{ Problems []string }

func (e *LoadError) Error() string {
	return fmt.Sprintf("%d problem(s) in the rules:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

//go:embed *.yaml
var shipped embed.FS

// Shipped returns the rule pack built into the binary (the files of rules/),
// which --rules replaces.
func Shipped() (*Set, error) { return LoadFS(shipped, ".", "rules") }

// Load reads every *.yaml and *.yml file in dir (not recursive), in name
// order, validates all of them and compiles every condition. It returns
// either a complete Set or a *LoadError naming each problem by file and
// line; a partial set is never returned.
func Load(dir string) (*Set, error) { return LoadFS(os.DirFS(dir), ".", dir) }

// LoadFS is Load over a file system; names in errors start with display.
func LoadFS(fsys fs.FS, dir, display string) (*Set, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("rules: %w (pass --rules with a folder of rule files)", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("rules: no .yaml files in %s", display)
	}
	paths := make([]string, len(names))
	sources := make(map[string][]byte, len(names))
	for i, n := range names {
		b, err := fs.ReadFile(fsys, path.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		paths[i] = filepath.Join(display, n)
		sources[paths[i]] = b
	}
	return Parse(paths, sources)
}

// Parse builds a Set from file contents (paths gives the order and the names
// used in errors).
func Parse(paths []string, sources map[string][]byte) (*Set, error) {
	set := &Set{Detectors: detectors.Defaults(), Files: paths}
	var problems []string
	add := func(path string, line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	hash := sha256.New()
	seen := map[string]string{}
	detectorsFrom := ""
	for _, path := range paths {
		src := sources[path]
		hash.Write([]byte(filepath.Base(path)))
		hash.Write([]byte{0})
		hash.Write(src)
		hash.Write([]byte{0})

		var root yaml.Node
		if err := yaml.Unmarshal(src, &root); err != nil {
			problems = append(problems, yamlProblems(path, 0, "", err)...)
			continue
		}
		if len(root.Content) == 0 {
			continue
		}
		doc := root.Content[0]
		for _, p := range unknownKeys(doc, reflect.TypeOf(fileSpec{})) {
			add(path, p.line, "%s", p.msg)
		}
		var spec fileSpec
		if err := doc.Decode(&spec); err != nil {
			problems = append(problems, yamlProblems(path, 0, "", err)...)
			continue
		}
		if spec.Detectors.Kind != 0 {
			if detectorsFrom != "" {
				add(path, spec.Detectors.Line, "detectors are already configured in %s; keep them in one file", detectorsFrom)
			}
			detectorsFrom = path
			for _, p := range unknownKeys(&spec.Detectors, reflect.TypeOf(detectors.Config{})) {
				add(path, p.line, "detectors: %s", p.msg)
			}
			if err := spec.Detectors.Decode(&set.Detectors); err != nil {
				problems = append(problems, yamlProblems(path, spec.Detectors.Line, "detectors: ", err)...)
			} else if err := set.Detectors.Validate(); err != nil {
				add(path, spec.Detectors.Line, "%v", err)
			}
		}
		ruleNodes := sequenceUnder(doc, "rules")
		for i, rs := range spec.Rules {
			line := 0
			if i < len(ruleNodes) {
				line = ruleNodes[i].Line
			}
			r, errs := compile(rs, path, line)
			for _, e := range errs {
				add(path, line, "rule %q: %s", rs.ID, e)
			}
			if r == nil {
				continue
			}
			if prev, dup := seen[r.ID]; dup {
				add(path, line, "rule id %q is already used at %s", r.ID, prev)
				continue
			}
			seen[r.ID] = fmt.Sprintf("%s:%d", path, line)
			set.Rules = append(set.Rules, r)
		}
	}
	if len(problems) > 0 {
		for i, p := range problems {
			// One problem, one line, as promtool prints them: a YAML
			// error can quote a value that spans lines.
			problems[i] = strings.ReplaceAll(p, "\n", `\n`)
		}
		return nil, &LoadError{Problems: problems}
	}
	set.Version = hex.EncodeToString(hash.Sum(nil))[:12]
	return set, nil
}

// yamlProblems turns a yaml error about path into problems, one a line: a
// *yaml.TypeError lists every value of the wrong type, each as path:N:
// (its Error would be one problem over several lines); another error is
// one problem, at line when not 0.
func yamlProblems(path string, line int, prefix string, err error) []string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if line > 0 {
			return []string{fmt.Sprintf("%s:%d: %s%v", path, line, prefix, err)}
		}
		return []string{fmt.Sprintf("%s: %s%s", path, prefix, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	out := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		out[i] = fmt.Sprintf("%s: %s%s", path, prefix, m)
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if n, msg, ok := strings.Cut(rest, ": "); ok {
				if _, err := strconv.Atoi(n); err == nil {
					out[i] = fmt.Sprintf("%s:%s: %s%s", path, n, prefix, msg)
				}
			}
		}
	}
	return out
}

var validSubjects = []string{SubjectUser, SubjectIP, SubjectDevice, SubjectToken}

func compile(rs ruleSpec, path string, line int) (*Rule, []string) {
	var errs []string
	r := &Rule{ID: rs.ID, Description: strings.TrimSpace(rs.Description), Detector: rs.Detector, When: strings.TrimSpace(rs.When),
		Subject: rs.Subject, Score: rs.Score, File: path, Line: line, Mode: Enforce}
	if r.ID == "" {
		errs = append(errs, "id is required")
	}
	if !slices.Contains(detectors.IDs(), r.Detector) {
		errs = append(errs, fmt.Sprintf("detector %q is not one of %s", r.Detector, strings.Join(detectors.IDs(), ", ")))
	}
	var err error
	if r.Action, err = ParseAction(rs.Action); err != nil {
		errs = append(errs, err.Error())
	}
	if !slices.Contains(validSubjects, r.Subject) {
		errs = append(errs, fmt.Sprintf("subject %q is not one of %s", r.Subject, strings.Join(validSubjects, ", ")))
	}
	if r.Score < 0 || r.Score > 100 {
		errs = append(errs, fmt.Sprintf("score %v is outside 0..100", r.Score))
	}
	switch rs.Mode {
	case "", "enforce":
	case "shadow":
		r.Mode = Shadow
	default:
		errs = append(errs, fmt.Sprintf("mode %q is not enforce or shadow", rs.Mode))
	}
	switch {
	case rs.Expires != "":
		if r.Expires, err = detectors.ParseDuration(rs.Expires); err != nil || r.Expires <= 0 {
			errs = append(errs, fmt.Sprintf("expires: want a positive duration like 15m, 1h or 1d, got %q", rs.Expires))
		}
	case r.Action != Allow:
		errs = append(errs, "expires is required for step_up and lockout")
	}
	if r.When == "" {
		errs = append(errs, "when (the condition) is required")
		return nil, errs
	}
	prog, err := expr.Compile(r.When, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fmt.Sprintf("when, line %d of the condition: %s", fe.Line, fe.Message)
		}
		errs = append(errs, msg)
		return nil, errs
	}
	r.program = prog
	if readsIP(prog.Node()) {
		r.Stage = IPStage
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// readsIP reports whether a condition reads the ip.* features, which exist
// only on the address stage.
func readsIP(n ast.Node) bool {
	v := &identFinder{name: "ip"}
	ast.Walk(&n, v)
	return v.found
}

type identFinder struct {
	name  string
	found bool
}

func (v *identFinder) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value == v.name {
		v.found = true
	}
}

type keyProblem struct {
	line int
	msg  string
}

// unknownKeys walks a mapping node against the yaml tags of t and reports
// keys t does not have, recursively through nested structs and slices of
// structs, so a misspelt parameter is an error rather than a silent default.
func unknownKeys(n *yaml.Node, t reflect.Type) []keyProblem {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
			var out []keyProblem
			for _, c := range n.Content {
				out = append(out, unknownKeys(c, t.Elem())...)
			}
			return out
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode || t == reflect.TypeOf(yaml.Node{}) {
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = t.Field(i).Type
			names = append(names, name)
		}
	}
	var out []keyProblem
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			out = append(out, keyProblem{k.Line, fmt.Sprintf("unknown key %q (known: %s)", k.Value, strings.Join(names, ", "))})
			continue
		}
		if ft != reflect.TypeOf(yaml.Node{}) {
			out = append(out, unknownKeys(v, ft)...)
		}
	}
	return out
}

func sequenceUnder(doc *yaml.Node, key string) []*yaml.Node {
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == key && doc.Content[i+1].Kind == yaml.SequenceNode {
			return doc.Content[i+1].Content
		}
	}
	return nil
}

// RuleByID returns the rule with id, or nil.
func (s *Set) RuleByID(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}
