//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// withUmask runs the test under umask mask (process-wide: the test must
// not be parallel).
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// write makes SQLite create the -wal and -shm files.
func write(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if err := s.CreateRefreshToken(context.Background(), store.RefreshToken{Hash: t.Name(), Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// A new database holds token hashes and the audit log: it and the -wal and
// -shm files SQLite makes beside it (which take the database file's mode)
// are private, whatever the umask.
func TestNewDatabaseIsPrivate(t *testing.T) {
	withUmask(t, 0o022)
	path := tempPath(t)
	write(t, open(t, path))
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if got := modeOf(t, f); got != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(f), got)
		}
	}
	if exposed, err := sqlite.ExposedFiles(path); err != nil || len(exposed) != 0 {
		t.Errorf("ExposedFiles = %v, %v; want none", exposed, err)
	}
}

// An existing database that others may read still opens, unchanged, and
// ExposedFiles names each of its files with the mode, for a warning.
func TestExposedDatabaseOpensAndIsReported(t *testing.T) {
	withUmask(t, 0o022)
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o644); err != nil { // an empty file is an empty database
		t.Fatal(err)
	}
	write(t, open(t, path))
	if got := modeOf(t, path); got != 0o644 {
		t.Errorf("Open changed the mode to %04o", got)
	}
	exposed, err := sqlite.ExposedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlite.Exposed{{Path: path, Mode: 0o644}, {Path: path + "-wal", Mode: 0o644}, {Path: path + "-shm", Mode: 0o644}}
	if !slices.Equal(exposed, want) {
		t.Errorf("ExposedFiles = %v, want %v", exposed, want)
	}
}

func TestExposedFilesOfNoDatabase(t *testing.T) {
	if exposed, err := sqlite.ExposedFiles(filepath.Join(t.TempDir(), "none.db")); err != nil || len(exposed) != 0 {
		t.Errorf("ExposedFiles of a missing database = %v, %v; want none", exposed, err)
	}
}
