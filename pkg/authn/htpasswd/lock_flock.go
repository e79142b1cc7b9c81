//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package htpasswd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lock takes an exclusive flock(2) on the file at path, creating it if
// needed, and waits for it. The returned function releases it. flock locks
// belong to the open file, so they also exclude other Updates in this
// process.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("htpasswd: lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// keepOwner gives f the owner and group of prev, so that a file replaced by
// root (sudo tollgate users ...) stays readable by the server's account.
// Best effort: without the privilege the file belongs to the caller.
func keepOwner(f *os.File, prev fs.FileInfo) {
	if st, ok := prev.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
