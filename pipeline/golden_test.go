package pipeline_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

var update = flag.Bool("update", false, "rewrite the expected files of testdata/golden")

// TestGolden replays each folder of testdata/golden (events.jsonl, and
// rules/ when the case brings its own) and compares the decisions with
// expected.jsonl and the rejections with rejected.txt. decided_at is the one
// wall-clock field; it is pinned. Run with -update to rewrite the files,
// then read the diff.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob(testenv.Path("testdata/golden/*"))
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	db, warns := geoip.Open(testenv.City, testenv.ASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rulesDir := filepath.Join(dir, "rules")
			if _, err := os.Stat(rulesDir); err != nil {
				rulesDir = testenv.Rules
			}
			set, err := rules.Load(rulesDir)
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var out, rejected bytes.Buffer
			sink := alerting.NewJSONLines(&out)
			_, err = pipeline.Replay(context.Background(), pipeline.ReplayConfig{
				Engine: pipeline.NewEngine(set, pipeline.WithGeoCache(db, 64)),
				Input:  bytes.NewReader(in), Output: sink.Write,
				Rejected: func(line int, err error) { fmt.Fprintf(&rejected, "%d: %v\n", line, err) },
				Now:      func() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) },
			})
			if err != nil {
				t.Fatal(err)
			}
			sink.Flush()
			testenv.CheckDecisionJSONL(t, out.Bytes())
			compare(t, filepath.Join(dir, "expected.jsonl"), out.Bytes())
			compare(t, filepath.Join(dir, "rejected.txt"), rejected.Bytes())
		})
	}
}

func compare(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			os.Remove(path)
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./pipeline -run Golden -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
