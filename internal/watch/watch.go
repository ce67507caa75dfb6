// Package watch calls a function when files in folders have changed and
// then stayed quiet for a while: the debounced file watch that the GeoIP
// databases and the rules folder both reload on.
package watch

import (
	"context"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Folders watches dirs until ctx ends and calls changed once an event
// that match accepts (nil: any) has been followed by settle of quiet. A
// watch error goes to failed (which may be nil), which says whether to
// count it as a change (an event may have been lost with it). It returns
// an error only when the watch cannot start. It watches folders rather
// than files because updaters replace a file by renaming a new one over
// it, and Kubernetes swaps a ConfigMap's symlink. It runs on the caller's
// goroutine.
func Folders(ctx context.Context, dirs []string, settle time.Duration, match func(fsnotify.Event) bool,
	changed func(), failed func(error) (reload bool)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for _, dir := range dirs {
		if err := w.Add(dir); err != nil {
			return err
		}
	}
	debounce(ctx, w, settle, match, changed, failed)
	return nil
}

// debounce is Folders' loop over w, whose folders are added.
func debounce(ctx context.Context, w *fsnotify.Watcher, settle time.Duration, match func(fsnotify.Event) bool,
	changed func(), failed func(error) (reload bool)) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if match == nil || match(ev) {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			if failed != nil && failed(err) {
				timer.Reset(settle)
			}
		case <-timer.C:
			changed()
		}
	}
}
