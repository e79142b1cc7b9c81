package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Migrate calls apply with each migration of fsys (migrations/*.sql), in
// file-name order, up to the one whose version is last ("": all). A
// version is the file's name without ".sql" (0005_accounts); apply runs
// the body unless that version is recorded, and records it.
func Migrate(ctx context.Context, fsys fs.FS, last string, apply func(ctx context.Context, version, body string) error) error {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		if last != "" && version > last {
			break
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if err := apply(ctx, version, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}
