package streamtest

import (
	"os"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
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
	if got, want := testenv.Script(t, "kafka.sh", "restart"), os.Getenv(EnvKafka); got != want {
		t.Fatalf("kafka.sh restart: the broker came back at %s, not at %s", got, want)
	}
}
