// The YAML side of loading rule files: decoding a file and turning
// yaml.v3's errors into problems named by file and line.

package rules

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/detectors"
)

// targets are where a file's sections decode to, and their lines.
type targets struct {
	cfg              *detectors.Config
	policy           *Policy
	detLine, polLine int
}

// decodeFile decodes the document of src into a fileSpec with t's targets
// for its detectors and decisions sections. With KnownFields an unknown
// key at any depth is a problem: a misspelt parameter is an error, not a
// silent default. It returns the problems, one a line; ok reports that
// spec.Rules is complete (at most unknown keys), to be compiled.
func decodeFile(path string, src []byte, t targets) (spec fileSpec, problems []string, ok bool) {
	spec.Detectors.cfg, spec.Decisions.p = t.cfg, t.policy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	problems, ok = yamlProblems(path, 0, "", dec.Decode(&spec))
	if spec.Detectors.decoded {
		lines, decoded := yamlProblems(path, t.detLine, "detectors: ", spec.Detectors.err)
		problems = append(problems, lines...)
		if err := t.cfg.Validate(); decoded && err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", path, t.detLine, err))
		}
	}
	if spec.Decisions.decoded {
		lines, decoded := yamlProblems(path, t.polLine, "decisions: ", spec.Decisions.err)
		problems = append(problems, lines...)
		if err := t.policy.Validate(); decoded && err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", path, t.polLine, err))
		}
	}
	return spec, problems, ok
}

// yamlProblems turns a yaml error about path into problems, one a line: a
// *yaml.TypeError lists every unknown key and every value of the wrong
// type, each as path:N: (its Error would be one problem over several
// lines); another error is one problem, at line when not 0. decoded
// reports that err is nil or lists unknown keys alone, which leave the
// value fully decoded.
func yamlProblems(path string, line int, prefix string, err error) (problems []string, decoded bool) {
	var te *yaml.TypeError
	switch {
	case err == nil:
		return nil, true
	case !errors.As(err, &te) && line > 0:
		return []string{fmt.Sprintf("%s:%d: %s%v", path, line, prefix, err)}, false
	case te == nil:
		return []string{fmt.Sprintf("%s: %s%s", path, prefix, strings.TrimPrefix(err.Error(), "yaml: "))}, false
	}
	decoded = true
	seen := map[string]bool{}
	for _, m := range te.Errors {
		at, msg := "", m
		if sub := atLine.FindStringSubmatch(m); sub != nil {
			at, msg = ":"+sub[1], sub[2]
		}
		msg, known := unknownKey(msg)
		decoded = decoded && known
		// A key under an anchor is reported at every alias of it.
		if p := fmt.Sprintf("%s%s: %s%s", path, at, prefix, msg); !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	return problems, decoded
}

// atLine splits an error of a *yaml.TypeError into its line and message.
var atLine = regexp.MustCompile(`(?s)^line ([0-9]+): (.*)$`)

// unknownKey rewrites yaml's "field K not found in type T" as
// `unknown key "K" (known: ...)`, with the keys T has, and reports whether
// msg was such a message about a type a rule file decodes into; any other
// msg is returned unchanged.
func unknownKey(msg string) (string, bool) {
	const notFound = " not found in type "
	rest, ok := strings.CutPrefix(msg, "field ")
	i := strings.LastIndex(rest, notFound)
	if !ok || i < 0 {
		return msg, false
	}
	known, ok := knownKeys()[rest[i+len(notFound):]]
	if !ok {
		return msg, false
	}
	return fmt.Sprintf("unknown key %q (known: %s)", rest[:i], known), true
}

// knownKeys maps the name yaml gives a struct type in its errors
// (rules.ruleSpec, detectors.VelocityConfig) to the keys of the type, for
// every struct a rule file decodes into.
var knownKeys = sync.OnceValue(func() map[string]string {
	known := map[string]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if _, seen := known[t.String()]; seen || t.Kind() != reflect.Struct {
			return
		}
		known[t.String()] = ""
		var names []string
		for f := range t.Fields() {
			walk(f.Type)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				names = append(names, name)
			}
		}
		known[t.String()] = strings.Join(names, ", ")
	}
	walk(reflect.TypeFor[fileSpec]())
	walk(reflect.TypeFor[detectors.Config]())
	walk(reflect.TypeFor[Policy]())
	return known
})

var validSubjects = []string{SubjectUser, SubjectIP, SubjectNetwork, SubjectDevice, SubjectToken}
