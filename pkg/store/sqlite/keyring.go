package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// KeyRing implements store.KeyRings.
func (s *Store) KeyRing(ctx context.Context) (store.KeyRing, error) {
	return rows.One(errs, "key ring", "get key ring",
		s.db.QueryRowContext(ctx, `SELECT `+rows.KeyRingColumns+` FROM key_ring WHERE id = 1`), rows.ScanKeyRing)
}

// SwapKeyRing implements store.KeyRings with one statement each way: the
// first ring is an INSERT that the single-row primary key lets only one
// caller make (ON CONFLICT DO NOTHING: the others get no row back), a later
// one an UPDATE ... WHERE version = old. SQLite runs writers one at a time,
// so a swap that waited for another sees its new version and matches
// nothing. A negative oldVersion matches nothing either.
func (s *Store) SwapKeyRing(ctx context.Context, oldVersion int64, data []byte, at time.Time) (store.KeyRing, error) {
	if data == nil {
		data = []byte{}
	}
	var row *sql.Row
	if oldVersion == 0 {
		row = s.db.QueryRowContext(ctx, `INSERT INTO key_ring (id, version, data, updated_at)
			VALUES (1, 1, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING version`, data, rows.NullTime(at))
	} else {
		row = s.db.QueryRowContext(ctx, `UPDATE key_ring SET version = version + 1, data = ?, updated_at = ?
			WHERE id = 1 AND version = ? RETURNING version`, data, rows.NullTime(at), oldVersion)
	}
	var version int64
	err := row.Scan(&version)
	if isNoRows(err) {
		return store.KeyRing{}, fmt.Errorf("key ring version %d is not the stored one: %w", oldVersion, store.ErrConflict)
	}
	if err != nil {
		return store.KeyRing{}, errs.Failed("swap key ring", err)
	}
	return store.KeyRing{Version: version, Data: bytes.Clone(data), UpdatedAt: rows.FromNull(rows.NullTime(at))}, nil
}
