package sqlite

import (
	"context"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// AppendAudit implements store.Audit: all events or none. IDs the caller
// set are ignored; the store assigns them.
func (s *Store) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return errs.Failed("append audit", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+rows.AuditInsertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return errs.Failed("append audit", err)
	}
	defer stmt.Close()
	for _, e := range events {
		if _, err := stmt.ExecContext(ctx, rows.AuditValues(e)...); err != nil {
			return errs.Failed("append audit", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return errs.Failed("append audit", err)
	}
	return nil
}
