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
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/internal/yamlnode"
)

// fileSpec is the layout of a rule file. A file may hold rules, detector
// parameters, or both.
type fileSpec struct {
	Detectors detectorsSpec `yaml:"detectors"`
	Decisions policySpec    `yaml:"decisions"`
	Rules     []ruleSpec    `yaml:"rules"`
}

// detectorsSpec decodes the detectors section of a file into cfg. Its
// UnmarshalYAML has the func form yaml.v3 keeps from yaml.v2, which unlike
// Node.Decode decodes with the file's Decoder and so keeps its KnownFields
// check. The section's error is kept, not returned, to be reported under
// "detectors: " while the rules of the file are still read.
type detectorsSpec struct {
	cfg     *detectors.Config
	decoded bool
	err     error
}

// UnmarshalYAML decodes the section into s.cfg and keeps its error in s.err.
func (s *detectorsSpec) UnmarshalYAML(unmarshal func(any) error) error {
	s.decoded, s.err = true, unmarshal(s.cfg)
	return nil
}

type ruleSpec struct {
	ID          string       `yaml:"id"`
	Description string       `yaml:"description"`
	Detector    string       `yaml:"detector"`
	When        string       `yaml:"when"`
	Action      string       `yaml:"action"`
	Subject     string       `yaml:"subject"`
	Score       float64      `yaml:"score"`
	Expires     string       `yaml:"expires"`
	ExpiresExpr string       `yaml:"expires_expr"`
	Mode        string       `yaml:"mode"`
	Breaker     *breakerSpec `yaml:"breaker"`
}

// LoadError lists every problem found in a rule folder, each prefixed with
// file:line, so an analyst can fix them all in one pass.
type LoadError struct{ Problems []string }

func (e *LoadError) Error() string {
	return fmt.Sprintf("%d problem(s) in the rules:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

//go:embed pack/*.yaml
var shipped embed.FS

// Shipped returns the rule pack built into the binary (the files of rules/pack/),
// which --rules replaces.
func Shipped() (*Set, error) { return LoadFS(shipped, "pack", "rules/pack") }

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
		if isRuleFile(e) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("rules: no .yaml files in %s%s", display, subfolderHint(fsys, dir, display, entries))
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

// isRuleFile reports whether e is a file that Load reads.
func isRuleFile(e fs.DirEntry) bool {
	n := e.Name()
	return !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml"))
}

// subfolderHint names the subfolders of dir (among entries) that hold
// rule files, for the error of a folder that holds none itself: Load does
// not recurse, and `riskd rules check rules` means the pack in rules/pack.
func subfolderHint(fsys fs.FS, dir, display string, entries []fs.DirEntry) string {
	var subs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		inner, _ := fs.ReadDir(fsys, path.Join(dir, e.Name()))
		if slices.ContainsFunc(inner, isRuleFile) {
			subs = append(subs, filepath.Join(display, e.Name()))
		}
	}
	if len(subs) == 0 {
		return "; pass a folder of rule files"
	}
	return "; rule folders do not nest: pass " + strings.Join(subs, " or ")
}

// Parse builds a Set from file contents (paths gives the order and the names
// used in errors).
func Parse(paths []string, sources map[string][]byte) (*Set, error) {
	p := &loader{set: &Set{Detectors: detectors.Defaults(), Policy: DefaultPolicy(), Files: paths}, seen: map[string]string{}}
	hash := sha256.New()
	for _, path := range paths {
		src := sources[path]
		hash.Write([]byte(filepath.Base(path)))
		hash.Write([]byte{0})
		hash.Write(src)
		hash.Write([]byte{0})
		p.file(path, src)
	}
	p.finish()
	if len(p.problems) > 0 {
		for i, pr := range p.problems {
			// One problem, one line, as promtool prints them: a YAML
			// error can quote a value that spans lines.
			p.problems[i] = strings.ReplaceAll(pr, "\n", `\n`)
		}
		return nil, &LoadError{Problems: p.problems}
	}
	p.set.Version = hex.EncodeToString(hash.Sum(nil))[:12]
	return p.set, nil
}

// loader gathers a Set and the problems of its files.
type loader struct {
	set      *Set
	problems []string
	seen     map[string]string // rule id: file:line
	// detectorsFrom and decisionsFrom name the file of each section,
	// which one file holds.
	detectorsFrom, decisionsFrom string
}

func (p *loader) add(path string, line int, format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
}

// file decodes one file into the set.
func (p *loader) file(path string, src []byte) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		lines, _ := yamlProblems(path, 0, "", err)
		p.problems = append(p.problems, lines...)
		return
	}
	if len(root.Content) == 0 {
		return
	}
	doc := root.Content[0]
	t := targets{cfg: &p.set.Detectors, policy: &p.set.Policy}
	t.detLine, t.polLine = sectionLine(doc, "detectors"), sectionLine(doc, "decisions")
	spec, lines, ok := decodeFile(path, src, t)
	p.once(&p.detectorsFrom, "detectors", path, t.detLine, spec.Detectors.decoded || yamlnode.Value(doc, "detectors") != nil)
	p.once(&p.decisionsFrom, "decisions", path, t.polLine, spec.Decisions.decoded || yamlnode.Value(doc, "decisions") != nil)
	p.problems = append(p.problems, lines...)
	if !ok {
		return
	}
	ruleNodes := yamlnode.Seq(doc, "rules")
	for i, rs := range spec.Rules {
		line := doc.Line // rules merged in with << have no line of their own
		if i < len(ruleNodes) {
			line = ruleNodes[i].Line
		}
		r, errs := compile(rs, path, line)
		for _, e := range errs {
			p.add(path, line, "rule %q: %s", rs.ID, e)
		}
		if r == nil {
			continue
		}
		if prev, dup := p.seen[r.ID]; dup {
			p.add(path, line, "rule id %q is already used at %s", r.ID, prev)
			continue
		}
		p.seen[r.ID] = fmt.Sprintf("%s:%d", path, line)
		p.set.Rules = append(p.set.Rules, r)
	}
}

// sectionLine returns the line of doc's key section, or doc's own when it
// has none (a section merged in with << has no line).
func sectionLine(doc *yaml.Node, key string) int {
	if n := yamlnode.Value(doc, key); n != nil {
		return n.Line
	}
	return doc.Line
}

// once records that path holds section, a problem when another file did.
func (p *loader) once(from *string, section, path string, line int, present bool) {
	if !present {
		return
	}
	if *from != "" {
		p.add(path, line, "%s are already configured in %s; keep them in one file", section, *from)
	}
	*from = path
}

// finish resolves what depends on every file: each rule's breaker
// ceilings over the pack's, which may come from a file read after it.
func (p *loader) finish() {
	for _, r := range p.set.Rules {
		r.Breaker = r.breaker.over(p.set.Policy.Breaker)
		if err := r.Breaker.validate("breaker"); err != nil && r.breaker != nil {
			p.add(r.File, r.Line, "rule %q: %v", r.ID, err)
		}
	}
}

func compile(rs ruleSpec, path string, line int) (*Rule, []string) {
	var errs []string
	r := &Rule{ID: rs.ID, Description: strings.TrimSpace(rs.Description), Detector: rs.Detector, When: strings.TrimSpace(rs.When),
		Subject: rs.Subject, Score: rs.Score, File: path, Line: line, Mode: Enforce,
		ExpiresExpr: strings.TrimSpace(rs.ExpiresExpr), breaker: rs.Breaker, Fingerprint: fingerprint(&rs)}
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
	if r.ExpiresExpr != "" {
		if r.expires, err = compileExpires(r.ExpiresExpr, r.Expires); err != nil {
			errs = append(errs, err.Error())
		} else if rs.Expires == "" {
			errs = append(errs, "expires_expr needs expires, its base and fallback")
		}
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

// fingerprint hashes a rule's definition as written.
func fingerprint(rs *ruleSpec) string {
	b, _ := yaml.Marshal(rs)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// readsIP reports whether a condition reads the ip.* or network.*
// features, which exist only on the address stage.
func readsIP(n ast.Node) bool {
	v := &identFinder{names: []string{ipGroup, networkGroup}}
	ast.Walk(&n, v)
	return v.found
}

type identFinder struct {
	names []string
	found bool
}

func (v *identFinder) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && slices.Contains(v.names, id.Value) {
		v.found = true
	}
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
