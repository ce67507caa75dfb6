package main

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPprofOnlyWhenAsked holds that the ops server shows Go's profiles
// only with --pprof: they reveal the program's internals.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"default: off", false, http.StatusNotFound},
		{"--pprof", true, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := serveOps("127.0.0.1:0", prometheus.NewRegistry(), func() bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if tt.pprof {
				mountPprof(srv)
			}
			resp, err := http.Get("http://" + srv.Addr + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /debug/pprof/goroutine: %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
