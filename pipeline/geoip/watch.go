package geoip

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the databases when their files change on disk, as when
// geoipupdate replaces them, until ctx ends. It watches the folders rather
// than the files because updaters replace a file by renaming a new one over
// it. Changes are debounced by settle; report (which may be nil) is called
// after every reload with what failed.
func (d *DB) Watch(ctx context.Context, settle time.Duration, report func(errs []error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
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
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			return err
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if abs, _ := filepath.Abs(ev.Name); files[abs] && !ev.Has(fsnotify.Remove) {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if report != nil {
				report([]error{err})
			}
		case <-timer.C:
			errs := d.Reload()
			if report != nil {
				report(errs)
			}
		}
	}
}
