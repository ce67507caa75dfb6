package testenv

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Script runs the project script scripts/NAME with args (a service's stop,
// restart, for the outage tests) and returns what it printed, trimmed; it
// fails t with the script's error output when the script fails.
func Script(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(Path("scripts/"+name), args...).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("scripts/%s %s: %v: %s", name, strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}
