//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package htpasswd

import (
	"errors"
	"io/fs"
	"os"
)

// lock is only implemented with flock(2), on Linux and the BSDs.
func lock(string) (func(), error) {
	return nil, errors.New("htpasswd: updating the file needs flock(2), available on Linux, macOS and the BSDs only")
}

func keepOwner(*os.File, fs.FileInfo) {}
