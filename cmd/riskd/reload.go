package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/riskd/riskd/internal/watch"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/rules"
)

// reloadSettle is how long the rules folder must be quiet before a change
// is loaded: an editor's save, or a copy of several files, is one reload.
const reloadSettle = 500 * time.Millisecond

// reloader reloads `riskd run`'s --rules folder into its member, as
// Prometheus' rules manager does: the whole folder is loaded and checked,
// then put in force at once; a folder that fails keeps the rules in force,
// logs every problem as file:line: message, and says so in
// riskd_rules_last_reload_success. Reloads come from a change in the
// folder, SIGHUP and POST /-/reload; they are serialised.
type reloader struct {
	dir    string
	member *stream.Member
	m      *stream.Metrics
	log    zerolog.Logger
	mu     sync.Mutex
}

// reload loads the folder and puts it in force; why says what asked for
// it. It returns what failed, nil when the folder is in force.
func (r *reloader) reload(why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.member.Rules()
	set, err := rules.Load(r.dir)
	if err == nil {
		err = r.member.SetRules(set)
	}
	r.m.ReloadDone(err == nil)
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				r.log.Error().Str("trigger", why).Str("problem", p).Msg("rules reload refused: " + p)
			}
		}
		r.log.Error().Err(err).Str("trigger", why).Str("rules_version", old.Version).
			Msg("rules reload failed; the rules in force stay")
		return err
	}
	r.log.Info().Str("trigger", why).Str("rules_version", set.Version).Str("previous_version", old.Version).
		Int("rules", len(set.Rules)).Bool("changed", set.Version != old.Version).Msg("rules reloaded")
	return nil
}

// watch reloads when anything in the folder changes (a Kubernetes
// ConfigMap swaps a ..data symlink, editors write temporary files; a
// reload of an unchanged folder changes nothing, and says so), after the
// folder has been quiet for reloadSettle, and after a watch error, in case
// a change was lost with it; until ctx ends. The folder itself must stay:
// one replaced by another (mv new rules) is no longer watched, and SIGHUP
// or POST /-/reload then reloads it.
func (r *reloader) watch(ctx context.Context) {
	failed := func(err error) bool {
		r.log.Warn().Err(err).Msg("watching the rules folder; reloading it in case a change was missed")
		return true
	}
	err := watch.Folders(ctx, []string{r.dir}, reloadSettle, nil, func() { _ = r.reload("file change") }, failed)
	if err != nil {
		r.log.Warn().Err(err).Str("rules", r.dir).Msg("cannot watch the rules folder; reload with SIGHUP or POST /-/reload")
	}
}

// serve answers POST /-/reload with the outcome of a reload.
func (r *reloader) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST to reload the rules", http.StatusMethodNotAllowed)
		return
	}
	if err := r.reload("POST /-/reload"); err != nil {
		http.Error(w, "reload failed; the rules in force stay: "+strings.TrimSpace(err.Error()), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "rules %s in force\n", r.member.Rules().Version)
}

// startReloads reloads dir into member on a change in the folder, SIGHUP
// and POST /-/reload on srv (nil: no server), until ctx ends.
func startReloads(ctx context.Context, dir string, member *stream.Member, m *stream.Metrics, srv *http.Server, log zerolog.Logger) {
	r := &reloader{dir: dir, member: member, m: m, log: log}
	hup := func() { _ = r.reload("SIGHUP") }
	onHangup.Store(&hup)
	context.AfterFunc(ctx, func() { onHangup.CompareAndSwap(&hup, nil) })
	if srv != nil {
		if mux, ok := srv.Handler.(*http.ServeMux); ok {
			mux.HandleFunc("/-/reload", r.serve)
		}
	}
	go r.watch(ctx)
}
