package sqlite

import (
	"context"
	"time"

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

// ListAudit implements store.Audit. A zero since does not filter; a limit
// of zero or less returns nothing.
func (s *Store) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rs, err := s.db.QueryContext(ctx, `SELECT `+rows.AuditColumns+`
		FROM audit_events WHERE id > ? AND occurred_at >= ? ORDER BY id LIMIT ?`, afterID, rows.LowerBound(since), limit)
	return rows.List(errs, "list audit", rs, err, rows.ScanAuditEvent)
}

// DeleteAuditBefore implements store.Audit.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE occurred_at < ? LIMIT ?)`, rows.ToDB(t), store.AuditPurgeBatch)
		if err != nil {
			return total, errs.Failed("delete audit", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, errs.Failed("delete audit", err)
		}
		if total += n; n < store.AuditPurgeBatch {
			return total, nil
		}
	}
}
