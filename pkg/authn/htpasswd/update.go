package htpasswd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/pkg/authz"
)

// Entry is one user of an htpasswd file: the name and its bcrypt hash.
type Entry struct {
	User string
	Hash string
}

// ErrInvalidUser is wrapped by the errors for user names that cannot be
// written to an htpasswd file.
var ErrInvalidUser = errors.New("htpasswd: invalid user name")

// ValidateUser accepts a name that an htpasswd line can hold, that reads
// back as the same user and that the ACL can take (SafeName): not empty,
// valid UTF-8, no ':', no leading '#' (that line would be a comment).
func ValidateUser(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty"
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case strings.Contains(name, ":"):
		why = "contains ':'"
	case strings.HasPrefix(name, "#"):
		why = "starts with '#'"
	default:
		return SafeName(name)
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidUser, name, why)
}

// SafeName refuses names the ACL cannot take literally
// (authz.UnsafeLiteral). `${account}` puts the name into repository
// patterns, so a user "shared/bot" or "a*" could reach repositories that
// are not theirs. The loader skips such users with a warning; `tollgate
// users add` refuses them.
func SafeName(name string) error {
	if why := authz.UnsafeLiteral(name); why != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidUser, name, why)
	}
	return nil
}

// Entries returns the users of the htpasswd file at path in file order. The
// file is checked as Load checks it; every rejected line is a *ParseError.
func Entries(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	lines, err := parseLines(path, data)
	if err != nil {
		return nil, err
	}
	return entriesOf(lines), nil
}

// Update changes the htpasswd file at path: fn receives the users in file
// order (none when the file does not exist yet) and returns the users the
// file should hold. An error from fn is returned as it is and nothing is
// written.
//
// Comment and blank lines stay where they are, and so does every user fn
// keeps; users fn adds are appended in the order fn returns them. New or
// changed users must have a valid name (ValidateUser) and a bcrypt hash that
// Load accepts.
//
// The new content goes to a temporary file in the same directory (mode 0600
// for a new file, the old file's mode otherwise), is synced, and renamed
// over path, so a reader (or Watch) sees the old file or the new one, never
// a mix. Concurrent Updates, in this process or others, are serialised by an
// exclusive lock on path+".lock", which is left in place.
func Update(path string, fn func(entries []Entry) ([]Entry, error)) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // replace the target, not the link
	}
	unlock, err := lock(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	lines, info, err := readForUpdate(path)
	if err != nil {
		return err
	}
	next, err := fn(entriesOf(lines))
	if err != nil {
		return err
	}
	data, err := render(path, lines, next)
	if err != nil {
		return err
	}
	return writeAtomic(path, data, info)
}

// readForUpdate reads and checks the file. A missing file has no lines and
// a nil FileInfo.
func readForUpdate(path string) ([]line, fs.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("htpasswd: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("htpasswd: %s is not a regular file", path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("htpasswd: %w", err)
	}
	lines, err := parseLines(path, data)
	if err != nil {
		return nil, nil, err
	}
	return lines, info, nil
}

func entriesOf(lines []line) []Entry {
	entries := make([]Entry, 0, len(lines))
	for _, l := range lines {
		if l.User != "" {
			entries = append(entries, l.Entry)
		}
	}
	return entries
}

// render lays out next over the old lines: comments and kept users in
// place (a user whose hash did not change keeps its line as written),
// removed users dropped, new users appended. It refuses duplicate users,
// bad names and hashes that are not bcrypt; errors never show a hash.
func render(path string, old []line, next []Entry) ([]byte, error) {
	before := make(map[string]string, len(old))
	for _, l := range old {
		if l.User != "" {
			before[l.User] = l.Hash
		}
	}
	want := make(map[string]string, len(next))
	var errs []error
	for _, e := range next {
		if _, dup := want[e.User]; dup {
			errs = append(errs, fmt.Errorf("htpasswd: %s: user %q: listed twice", path, e.User))
			continue
		}
		want[e.User] = e.Hash
		hash, known := before[e.User]
		if !known {
			if err := ValidateUser(e.User); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !known || hash != e.Hash {
			if _, reason := checkHash(e.Hash); reason != "" {
				errs = append(errs, fmt.Errorf("htpasswd: %s: user %q: %s", path, e.User, reason))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var b strings.Builder
	written := make(map[string]bool, len(next))
	for _, l := range old {
		switch hash, keep := want[l.User]; {
		case l.User == "", hash == l.Hash:
			b.WriteString(l.text)
		case keep:
			b.WriteString(l.User + ":" + hash)
		default:
			continue // removed
		}
		b.WriteByte('\n')
		written[l.User] = true
	}
	for _, e := range next {
		if !written[e.User] {
			b.WriteString(e.User + ":" + e.Hash + "\n")
		}
	}
	return []byte(b.String()), nil
}

// writeAtomic writes data to a temporary file beside path and renames it over
// path, syncing the file and then the directory so the change survives a
// crash. prev, the old file's FileInfo or nil, gives the mode (and, where
// the system allows, the owner).
func writeAtomic(path string, data []byte, prev fs.FileInfo) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	mode := fs.FileMode(0o600)
	if prev != nil {
		mode = prev.Mode().Perm()
		keepOwner(tmp, prev)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("htpasswd: sync %s: %w", dir, err)
	}
	return nil
}
