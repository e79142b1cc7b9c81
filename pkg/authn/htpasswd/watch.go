package htpasswd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the file whenever it changes on disk, until ctx ends (then
// it returns nil). It watches the parent directory, so a file replaced by
// rename (editors, `tollgate users`, Kubernetes volume updates) is seen as
// well as one rewritten in place. Bursts of events are coalesced. A reload
// that fails is logged at error level and the previous users are kept.
func (f *File) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("htpasswd: watch %s: %w", f.path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("htpasswd: watch %s: %w", f.path, err)
	}
	return f.watchLoop(ctx, w)
}

func (f *File) watchLoop(ctx context.Context, w *fsnotify.Watcher) error {
	timer := time.NewTimer(0) // first, catch changes made between Load and now
	confirming := false       // the last read was an unconfirmed empty file
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("htpasswd: watcher closed")
			}
			if f.concerns(ev) {
				confirming = false
				timer.Reset(f.debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("htpasswd: watcher closed")
			}
			// Events may have been lost (e.g. a queue overflow): reload to be sure.
			f.logger.Warn("htpasswd watch error", "file", f.path, "err", err)
			timer.Reset(f.debounce)
		case <-timer.C:
			err := f.reload(confirming)
			confirming = errors.Is(err, errEmptyUnconfirmed)
			if confirming {
				timer.Reset(2 * f.debounce)
				continue
			}
			f.logReloadError(err)
		}
	}
}

// concerns reports whether ev is about our file: its name, or the "..data"
// symlink that Kubernetes swaps when it updates a mounted volume.
func (f *File) concerns(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	return name == filepath.Base(f.path) || name == "..data"
}

func (f *File) logReloadError(err error) {
	if err != nil {
		f.logger.Error("htpasswd reload failed; keeping previous users",
			"file", f.path, "users", len(f.snap.Load().users), "err", err)
	}
}
