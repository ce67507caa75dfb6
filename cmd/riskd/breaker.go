package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/rules"
)

// mountBreaker serves the lockout breaker on the ops server: GET
// /-/rules/breaker lists the rules it holds demoted on this member, and
// POST /-/rules/RULE/reset puts RULE back in force (analysts reset a rule
// once they have found why it locked out so many; every member of a fleet
// keeps its own breaker, so reset each).
func mountBreaker(srv *http.Server, member *stream.Member) {
	mux, ok := srv.Handler.(*http.ServeMux)
	if !ok {
		return
	}
	mux.HandleFunc("GET /-/rules/breaker", func(w http.ResponseWriter, _ *http.Request) {
		out := []rules.Demoted{} // as a decision's breaker field lists them
		for _, d := range member.Demotions() {
			out = append(out, d.Entry())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /-/rules/{rule}/reset", func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("rule")
		was, err := member.ResetRule(id)
		switch {
		case errors.Is(err, stream.ErrUnknownRule):
			http.Error(w, fmt.Sprintf("rule %q is not in the rules in force (%s)", id, member.Rules().Version), http.StatusNotFound)
		case was:
			fmt.Fprintf(w, "rule %s reset: enforced again\n", id)
		default:
			fmt.Fprintf(w, "rule %s was not demoted\n", id)
		}
	})
}
