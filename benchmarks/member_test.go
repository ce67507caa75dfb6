package benchmarks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
)

// memberEvents is how many events BenchmarkMemberVsGroup puts on the
// topics (RISKD_BENCH_EVENTS overrides it).
const memberEvents = 300_000

// BenchmarkMemberVsGroup is issue 11's throughput figure: one `riskd run`
// process with its default settings against its floor, a bare kafka-go
// consumer group that only JSON-decodes each message into a map, on the
// same backlog (unseen traffic, 4 partitions per input topic) in the same
// run, each from its start to its last event consumed (for riskd: counted
// in riskd_events_total, that is decided). One op is one of each, in
// alternating order; the ratio riskd/floor of events/s is reported. It
// runs against the real broker of RISKD_TEST_KAFKA when set, else the
// embedded one.
func BenchmarkMemberVsGroup(b *testing.B) {
	brs := streamtest.Brokers(b)
	br := brs[len(brs)-1]
	bin := riskdBinary(b)
	lines := unseenLines(b)
	var floor, member, floorCPU, memberCPU time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := streamtest.Names(br.Name, "auth", "txn", "decisions", "dlq", "features")
		streamtest.CreateTopics(b, br, 4, n...)
		recs, _ := streamtest.Records(lines, n[0], n[1])
		streamtest.Produce(b, br, recs)
		b.StartTimer()
		runFloor := func() {
			wall, cpu := groupFloor(b, br.Addrs, "floor-"+n[0], n[:2], len(recs))
			floor, floorCPU = floor+wall, floorCPU+cpu
		}
		runMember := func() {
			wall, cpu := riskdMember(b, bin, br.Addrs, "riskd-"+n[0], n, len(recs))
			member, memberCPU = member+wall, memberCPU+cpu
		}
		if i%2 == 0 {
			runFloor()
			runMember()
		} else {
			runMember()
			runFloor()
		}
		b.StopTimer()
		events := float64((i + 1) * len(recs))
		b.ReportMetric(events/floor.Seconds(), "floor-events/s")
		b.ReportMetric(events/member.Seconds(), "riskd-events/s")
		b.ReportMetric(floor.Seconds()/member.Seconds(), "ratio")
		b.ReportMetric(float64(floorCPU.Nanoseconds())/events, "floor-cpu-ns/event")
		b.ReportMetric(float64(memberCPU.Nanoseconds())/events, "riskd-cpu-ns/event")
		b.ReportMetric(0, "ns/op")
	}
}

// groupFloor consumes n messages of topics as a bare kafka-go consumer
// group member: ReadMessage (committing each second) and a JSON decode
// into a map, nothing else. It returns the time from before the Reader is
// made to the last message decoded, and the CPU time the process used
// meanwhile (the test process runs nothing else then).
func groupFloor(b *testing.B, brokers []string, group string, topics []string, n int) (wall, cpu time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start, cpu0 := time.Now(), selfCPU()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, GroupTopics: topics, CommitInterval: time.Second})
	defer r.Close()
	for i := range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			b.Fatalf("floor: %v", err)
		}
		if i == 0 && os.Getenv("RISKD_BENCH_VERBOSE") != "" {
			b.Logf("floor: first event after %v", time.Since(start))
		}
		var v map[string]any
		_ = json.Unmarshal(m.Value, &v)
	}
	return time.Since(start), selfCPU() - cpu0
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user and system CPU time process pid has used, from
// /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the line.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// riskdMember runs `riskd run` with its defaults on topics (auth, txn,
// decisions, dlq, features) and returns the time from starting the
// process to its metrics counting n events of the input topics, and the
// CPU time it used by then. It stops the process with SIGTERM after that,
// out of the measured time.
func riskdMember(b *testing.B, bin string, brokers []string, group string, topics []string, n int) (wall, cpu time.Duration) {
	b.Helper()
	addr := freeAddr(b)
	profile, trace, allocs := os.Getenv("RISKD_BENCH_CPUPROFILE"), os.Getenv("RISKD_BENCH_TRACE"), os.Getenv("RISKD_BENCH_ALLOCPROFILE")
	var extra []string
	if profile != "" || trace != "" || allocs != "" {
		extra = append(extra, "--pprof")
	}
	cmd := riskdCommand(bin, brokers, group, topics, addr, extra...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if profile != "" {
		go saveProfile(addr, "profile", profile)
	}
	if trace != "" {
		go saveProfile(addr, "trace", trace)
	}
	defer stopRiskd(cmd)
	deadline := start.Add(5 * time.Minute)
	first := time.Duration(0)
	for time.Now().Before(deadline) {
		got := consumed(addr, topics[:2])
		if got > 0 && first == 0 {
			first = time.Since(start)
		}
		if got >= n {
			wall, cpu := time.Since(start), procCPU(cmd.Process.Pid)
			if os.Getenv("RISKD_BENCH_VERBOSE") != "" {
				b.Logf("riskd: first event counted after %v, all %d after %v", first, n, wall)
			}
			if allocs != "" {
				saveProfile(addr, "allocs", allocs)
			}
			return wall, cpu
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("riskd did not consume %d events in 5 minutes", n)
	return 0, 0
}

// riskdCommand returns `riskd run` on topics (auth, txn, decisions, dlq,
// features) with the shipped rules, the test GeoIP databases, metrics at
// addr and quiet JSON logs to this process's stderr, then extra, then the
// flags of RISKD_BENCH_ARGS (for experiments); not started yet.
func riskdCommand(bin string, brokers []string, group string, topics []string, addr string, extra ...string) *exec.Cmd {
	cmd := exec.Command(bin, "run", "--brokers", strings.Join(brokers, ","), "--group", group,
		"--topics", topics[0]+","+topics[1], "--decisions-topic", topics[2], "--dlq-topic", topics[3],
		"--features-topic", topics[4], "--rules", testenv.Rules, "--geoip-city", testenv.City,
		"--geoip-asn", testenv.ASN, "--metrics-addr", addr, "--log-level", "warn", "--log-format", "json")
	cmd.Args = append(append(cmd.Args, extra...), strings.Fields(os.Getenv("RISKD_BENCH_ARGS"))...)
	cmd.Stderr = os.Stderr
	return cmd
}

// stopRiskd stops a started riskd as an operator would (SIGTERM) and
// waits for it to exit.
func stopRiskd(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// saveProfile saves 3 seconds of a CPU profile or an execution trace, or
// the allocations so far (kind) of the riskd serving metrics at addr to
// path (RISKD_BENCH_CPUPROFILE, RISKD_BENCH_TRACE,
// RISKD_BENCH_ALLOCPROFILE), started as soon as it answers.
func saveProfile(addr, kind, path string) {
	for range 500 {
		url := "http://" + addr + "/debug/pprof/" + kind
		if kind != "allocs" {
			url += "?seconds=3"
		}
		resp, err := http.Get(url)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		if f, err := os.Create(path); err == nil {
			_, _ = io.Copy(f, resp.Body)
			_ = f.Close()
		}
		return
	}
}

// consumed sums riskd_events_total of the given topics from the metrics at
// addr; 0 when they cannot be read (yet). Polled every 50 ms, it costs
// riskd about one percent of a core and the figure at most 50 ms.
func consumed(addr string, topics []string) int {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "identity") // gzip would cost riskd CPU
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "riskd_events_total{") {
			continue
		}
		for _, t := range topics {
			if strings.Contains(line, `topic="`+t+`"`) {
				v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				total += v
			}
		}
	}
	return int(total)
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// riskdBinary builds cmd/riskd once per process.
func riskdBinary(b *testing.B) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "riskd-bench-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "riskd")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/riskd/riskd/cmd/riskd").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	return binPath
}

var (
	unseenOnce sync.Once
	unseen     []byte
)

// unseenLines returns the first RISKD_BENCH_EVENTS (default 300,000) events
// of the unseen traffic of benchmarks/floor (seed 20261124), as JSON Lines.
func unseenLines(b *testing.B) []byte {
	unseenOnce.Do(func() {
		want := memberEvents
		if v, err := strconv.Atoi(os.Getenv("RISKD_BENCH_EVENTS")); err == nil && v > 0 {
			want = v
		}
		o := scenario.Options{Seed: 20261124, BenignUsers: 11_700, AttacksPerClass: 380,
			Start: time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC), Days: 3}
		events, _ := scenario.Generate(o)
		events = events[:min(want, len(events))]
		unseen, _ = scenario.MarshalLines(events)
	})
	if len(unseen) == 0 {
		b.Fatal("no unseen traffic generated")
	}
	return unseen
}
