package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// KeyRing implements store.KeyRings.
func (s *Store) KeyRing(ctx context.Context) (store.KeyRing, error) {
	return rows.One(s.errs, "key ring", "get key ring",
		s.db.QueryRow(ctx, `SELECT `+rows.KeyRingColumns+` FROM key_ring WHERE id = 1`), rows.ScanKeyRing)
}

// SwapKeyRing implements store.KeyRings with one statement each way, so
// replicas need no lock of their own. The first ring is an INSERT that the
// single-row primary key lets only one caller make (ON CONFLICT DO
// NOTHING: the others get no row back), a later one an UPDATE ... WHERE
// version = old. A concurrent swap sees the winner's new version and
// matches nothing: SQLite runs writers one at a time; PostgreSQL makes it
// wait for the winner (its commit, or its row lock) and then re-check
// against the committed row (READ COMMITTED). A negative oldVersion
// matches nothing either.
func (s *Store) SwapKeyRing(ctx context.Context, oldVersion int64, data []byte, at time.Time) (store.KeyRing, error) {
	if data == nil {
		data = []byte{} // pgx would send a nil slice as NULL
	}
	var row rows.Scanner
	if oldVersion == 0 {
		row = s.db.QueryRow(ctx, `INSERT INTO key_ring (id, version, data, updated_at)
			VALUES (1, 1, $1, $2) ON CONFLICT (id) DO NOTHING RETURNING version`, data, rows.NullTime(at))
	} else {
		row = s.db.QueryRow(ctx, `UPDATE key_ring SET version = version + 1, data = $1, updated_at = $2
			WHERE id = 1 AND version = $3 RETURNING version`, data, rows.NullTime(at), oldVersion)
	}
	var version int64
	err := row.Scan(&version)
	if err != nil && s.errs.NoRows(err) {
		return store.KeyRing{}, fmt.Errorf("key ring version %d is not the stored one: %w", oldVersion, store.ErrConflict)
	}
	if err != nil {
		return store.KeyRing{}, s.errs.Failed("swap key ring", err)
	}
	return store.KeyRing{Version: version, Data: bytes.Clone(data), UpdatedAt: rows.FromNull(rows.NullTime(at))}, nil
}
