package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const sampleConfig = "riskd.yaml"

// riskdBinary builds cmd/riskd once per test binary, so that the flags and
// the loader the tests check are the binary's own, not a copy of them.
var riskdBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "riskd-deploy-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "riskd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/riskd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ../cmd/riskd: %v\n%s", err, out)
	}
	return bin, nil
})

// TestMain removes the binary riskdBinary built, which no test's TempDir
// owns because the tests share it.
func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := riskdBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// riskd runs the built binary with args and an environment without RISKD_*
// variables (they would override the file under test), and returns its
// combined output and exit code.
func riskd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin, err := riskdBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "RISKD_") })
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("riskd %v: %v\n%s", args, err, out)
		return "", 0
	}
}

var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)

// runFlags returns the flag names `riskd run --help` prints.
func runFlags(t *testing.T) []string {
	t.Helper()
	out, code := riskd(t, "run", "--help")
	if code != 0 {
		t.Fatalf("riskd run --help exited %d:\n%s", code, out)
	}
	var names []string
	for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	if len(names) < 10 {
		t.Fatalf("found %d flags in riskd run --help; has its format changed? Update helpFlag.\n%s", len(names), out)
	}
	return names
}

// sampleKeys returns the top-level keys of the sample config with their
// lines, failing on a duplicate (riskd would take the last one silently).
func sampleKeys(t *testing.T) map[string]int {
	t.Helper()
	data, err := os.ReadFile(sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", sampleConfig, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s: not a mapping of settings; riskd run --config needs key: value lines", sampleConfig)
	}
	keys := map[string]int{}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if prev, ok := keys[k.Value]; ok {
			t.Errorf("%s:%d: key %q again (first at line %d); keep one", sampleConfig, k.Line, k.Value, prev)
		}
		keys[k.Value] = k.Line
	}
	return keys
}

// TestSampleConfigHasEveryFlag checks that deploy/riskd.yaml cannot drift
// from `riskd run`: every flag is a key of the sample (except --config,
// which the loader refuses in a file), every key is a flag, and every key
// has a comment above it saying what it is.
func TestSampleConfigHasEveryFlag(t *testing.T) {
	flags := runFlags(t)
	keys := sampleKeys(t)
	for _, f := range flags {
		_, ok := keys[f]
		switch {
		case f == "config" && ok:
			t.Errorf("%s:%d: config is a key; riskd refuses it in a config file, remove it", sampleConfig, keys[f])
		case f != "config" && !ok:
			t.Errorf("%s: no key %s although riskd run has --%s; add it with its default and a comment saying what it does", sampleConfig, f, f)
		}
	}
	for k, line := range keys {
		if !slices.Contains(flags, k) {
			t.Errorf("%s:%d: key %q is not a flag of riskd run (riskd run --help); remove or rename it", sampleConfig, line, k)
		}
	}

	// A comment above each key, or above the block of keys it belongs to
	// (user-state-topic and ip-state-topic share one).
	lines := strings.Split(readFile(t, sampleConfig), "\n")
	for k, line := range keys {
		i := line - 2 // the line above, 0-based
		for i >= 0 && keyLine.MatchString(lines[i]) {
			i--
		}
		if i < 0 || !strings.HasPrefix(lines[i], "#") {
			t.Errorf("%s:%d: key %s has no comment above it; say what it does and whether to keep the default", sampleConfig, line, k)
		}
	}
}

var keyLine = regexp.MustCompile(`^[a-z0-9-]+:`)

// TestSampleConfigLoads has riskd's own loader read deploy/riskd.yaml.
// riskd has no validate-only mode, so the test appends an unknown key as
// the file's last line: the loader sets the keys in file order, each with
// its flag's own validation, and stops at the first problem, so an error
// naming that last line means every key before it was accepted, without a
// broker being contacted. The other cases show that the check would see a
// bad value or a refused key.
func TestSampleConfigLoads(t *testing.T) {
	sample := readFile(t, sampleConfig)
	const sentinel = "zz-end-of-sample"
	tests := []struct {
		name string
		edit func(string) string
		want func(path string, lines int) string
	}{
		{
			name: "sample as shipped",
			edit: func(s string) string { return s },
			want: func(path string, lines int) string {
				return fmt.Sprintf("%s:%d: unknown key %q", path, lines, sentinel)
			},
		},
		{
			name: "bad duration",
			edit: func(s string) string {
				return strings.Replace(s, "\nflush-interval: 20ms\n", "\nflush-interval: soon\n", 1)
			},
			want: func(path string, _ int) string {
				return fmt.Sprintf("%s:%d: flush-interval:", path, lineOf(t, sample, "flush-interval:"))
			},
		},
		{
			name: "bad choice",
			edit: func(s string) string { return strings.Replace(s, "\nemit: non-allow\n", "\nemit: some\n", 1) },
			want: func(path string, _ int) string {
				return fmt.Sprintf("%s:%d: emit:", path, lineOf(t, sample, "emit:"))
			},
		},
		{
			name: "config key",
			edit: func(s string) string { return strings.Replace(s, "\ngroup: riskd\n", "\nconfig: other.yaml\n", 1) },
			want: func(path string, _ int) string {
				return fmt.Sprintf("%s:%d: unknown key \"config\"", path, lineOf(t, sample, "group:"))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edited := tc.edit(sample)
			if tc.name != "sample as shipped" && edited == sample {
				t.Fatalf("the edit changed nothing: %s no longer has the line it replaces; update the case", sampleConfig)
			}
			edited = strings.TrimRight(edited, "\n") + "\n" + sentinel + ": 1\n"
			path := filepath.Join(t.TempDir(), "riskd.yaml")
			if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := riskd(t, "run", "--config", path)
			want := tc.want(path, strings.Count(edited, "\n"))
			if code != 1 || !strings.Contains(out, want) {
				t.Errorf("riskd run --config (%s) exited %d, want 1 with %q; the loader refused another line of %s, or no longer stops at an unknown key:\n%s",
					tc.name, code, want, sampleConfig, out)
			}
		})
	}
}

// lineOf returns the 1-based line of the first line of s starting with
// prefix.
func lineOf(t *testing.T, s, prefix string) int {
	t.Helper()
	for i, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting with %q; update the test", sampleConfig, prefix)
	return 0
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
}
