package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestFolders holds the debounce: several writes in a row are one call
// after the quiet period, and events match refuses call nothing.
func TestFolders(t *testing.T) {
	for _, tt := range []struct {
		name  string
		file  string
		match func(fsnotify.Event) bool
		calls int
	}{
		{"any change", "rules.yaml", nil, 1},
		{"a matching file", "City.mmdb", func(ev fsnotify.Event) bool { return strings.HasSuffix(ev.Name, ".mmdb") }, 1},
		{"another file", "notes.txt", func(ev fsnotify.Event) bool { return strings.HasSuffix(ev.Name, ".mmdb") }, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := fsnotify.NewWatcher()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Add(dir); err != nil { // watched before the writes
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := make(chan struct{}, 10)
			go debounce(ctx, w, 100*time.Millisecond, tt.match, func() { calls <- struct{}{} }, nil)
			for i := range 3 {
				if err := os.WriteFile(filepath.Join(dir, tt.file), []byte{byte(i)}, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := 0
			if tt.calls > 0 {
				select {
				case <-calls:
					got++
				case <-time.After(10 * time.Second):
					t.Fatal("no call 10 s after the writes")
				}
			}
			// Five quiet periods more: a second call, or a call for a
			// refused event, would have come by then.
			time.Sleep(500 * time.Millisecond)
			if got += len(calls); got != tt.calls {
				t.Errorf("%d calls, want %d", got, tt.calls)
			}
		})
	}
}

// TestFoldersMissing holds that a folder that cannot be watched is an
// error at once.
func TestFoldersMissing(t *testing.T) {
	err := Folders(context.Background(), []string{filepath.Join(t.TempDir(), "absent")}, time.Second, nil, func() {}, nil)
	if err == nil {
		t.Fatal("watching a folder that does not exist: no error")
	}
}
