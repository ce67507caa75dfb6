package geoip

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/riskd/riskd/internal/watch"
)

// Watch reloads the databases when their files change on disk, as when
// geoipupdate replaces them, until ctx ends. It watches the folders rather
// than the files because updaters replace a file by renaming a new one over
// it. Changes are debounced by settle; report (which may be nil) is called
// after every reload with what failed.
func (d *DB) Watch(ctx context.Context, settle time.Duration, report func(errs []error)) error {
	files := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range []string{d.cityPath, d.asnPath} {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		files[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	match := func(ev fsnotify.Event) bool {
		abs, _ := filepath.Abs(ev.Name)
		return files[abs] && !ev.Has(fsnotify.Remove)
	}
	reload := func() {
		if errs := d.Reload(); report != nil {
			report(errs)
		}
	}
	failed := func(err error) bool {
		if report != nil {
			report([]error{err})
		}
		return false
	}
	return watch.Folders(ctx, slices.Collect(maps.Keys(dirs)), settle, match, reload, failed)
}
