package rules

import (
	"fmt"
	"reflect"
	"strings"
)

//go:generate go test -run TestEnvDocsUpToDate -update-envdocs

// Name is one name a rule condition can read, as `riskd rules docs`
// lists it. Everything in it comes from the Env type: the name from the
// expr struct tags, the type from the Go type, the stage from where the
// value is computed, and the meaning from the field's doc comment.
type Name struct {
	Name    string // e.g. velocity.count_10m
	Type    string // the expr type: bool, int, float or string
	Stage   string // event (known to both stages), user or ip
	Meaning string
}

// ipGroup and networkGroup are the Env groups that only the address stage
// computes; a rule that reads them runs there (see readsIP).
const (
	ipGroup      = "ip"
	networkGroup = "network"
)

// Names returns every name of Env, group by group in Env's order, fields
// in their types' order.
func Names() []Name {
	var out []Name
	env := reflect.TypeFor[Env]()
	for g := range env.Fields() {
		group := g.Tag.Get("expr")
		t := g.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		stage := "event"
		switch {
		case group == ipGroup || group == networkGroup:
			stage = "ip"
		case strings.HasSuffix(t.PkgPath(), "/detectors"):
			stage = "user"
		}
		for f := range t.Fields() {
			tag := f.Tag.Get("expr")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			out = append(out, Name{Name: group + "." + tag, Type: exprType(f.Type), Stage: stage, Meaning: meaning(t, f)})
		}
	}
	return out
}

// exprType names a Go type the way an analyst writes conditions about it.
func exprType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	}
	return t.String()
}

// docKey is the key of field f of struct t in fieldDocs and fieldNotes:
// package.Type.Field.
func docKey(t reflect.Type, f reflect.StructField) string {
	return t.String() + "." + f.Name
}

// meaning is f's doc comment from the Go source (fieldDocs), else its
// note (fieldNotes), for fields whose source has none yet.
func meaning(t reflect.Type, f reflect.StructField) string {
	key := docKey(t, f)
	if d := fieldDocs[key]; d != "" {
		return d
	}
	if n := fieldNotes[key]; n != "" {
		return n
	}
	return fieldNotes["*."+f.Name]
}

// DocsMarkdown returns Names as a Markdown table, the output of `riskd
// rules docs` and the README's table of rule names.
func DocsMarkdown() string {
	var b strings.Builder
	b.WriteString("| name | type | stage | meaning |\n|---|---|---|---|\n")
	for _, n := range Names() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", n.Name, n.Type, n.Stage, strings.ReplaceAll(n.Meaning, "|", `\|`))
	}
	return b.String()
}
