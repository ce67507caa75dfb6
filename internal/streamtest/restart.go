package streamtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Kafka returns the real Apache Kafka from RISKD_TEST_KAFKA, for a test
// that only a real broker can run (a restart in place). Without it, t fails
// under RISKD_REQUIRE_SERVICES=1 and is skipped otherwise.
func Kafka(t testing.TB) Broker {
	t.Helper()
	addr := os.Getenv(EnvKafka)
	switch {
	case addr != "":
		return Broker{Name: "kafka", Addrs: strings.Split(addr, ",")}
	case os.Getenv(EnvRequire) == "1":
		t.Fatalf("%s is not set although %s=1: start Apache Kafka with scripts/kafka.sh start (make test does)", EnvKafka, EnvRequire)
	default:
		t.Skipf("%s not set: this test needs the real broker (make test starts one)", EnvKafka)
	}
	return Broker{}
}

// RestartKafka stops the real broker and starts it again on the same data
// and port (scripts/kafka.sh restart, in the services' folder RISKD_RUN
// that scripts/with-services.sh exports), and fails t unless it comes back
// at the address the tests know.
func RestartKafka(t testing.TB) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "kafka.sh")
	out, err := exec.Command(script, "restart").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kafka.sh restart: %v: %s", err, stderr)
	}
	if got, want := strings.TrimSpace(string(out)), os.Getenv(EnvKafka); got != want {
		t.Fatalf("kafka.sh restart: the broker came back at %s, not at %s", got, want)
	}
}
