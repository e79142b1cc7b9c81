package sqlite

import (
	"context"
	"database/sql"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// AppendAudit implements store.Audit: all events or none. IDs the caller
// set are ignored; the store assigns them.
func (s *Store) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	values := make([][]any, len(events))
	for i, e := range events {
		values[i] = rows.AuditValues(e)
	}
	return errs.Failed("append audit", s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := execEach(ctx, tx, `INSERT INTO audit_events (`+rows.AuditInsertColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, values)
		return err
	}))
}
