package main

import (
	"bufio"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHangupDoesNotKill sends SIGHUP to a running riskd (a replay reading
// stdin): it must say that reload is not supported and carry on to a clean
// exit, not die undrained as SIGHUP's default action would.
func TestHangupDoesNotKill(t *testing.T) {
	cmd := riskdCmd("replay", "--events", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := start(t, cmd)
	lines := make(chan string, 64)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	// main installs the handler before replay warns of the missing GeoIP
	// database, so after that line SIGHUP is handled.
	waitLine(t, lines, "no --geoip-city")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "SIGHUP received")
	io.WriteString(stdin, `{"event_id":"e1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"u1","outcome":"success"}`+"\n")
	stdin.Close()
	waitLine(t, lines, "1 events read, 1 accepted")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("riskd after SIGHUP: %v (want exit 0)", err)
	}
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("riskd ended without printing %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within 10s", want)
		}
	}
}
