package main

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves the Go runtime's profiles under /debug/pprof/ on the
// ops server's mux, for --pprof. They are off by default: a profile shows
// the program's internals (stacks, sizes, command line) to whoever can
// reach the address, which is loopback unless the operator chose otherwise.
func mountPprof(srv *http.Server) {
	mux, ok := srv.Handler.(*http.ServeMux)
	if !ok {
		return
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
