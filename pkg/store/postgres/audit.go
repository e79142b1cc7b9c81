package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// AppendAudit implements store.Audit: all events or none. The EXCLUSIVE
// table lock (reads still run) makes appends from all replicas take their
// ids and commit one after another, so ids become visible in increasing
// order and a ListAudit cursor (afterID) never skips an event that commits
// later with a smaller id. IDs the caller set are ignored; the store
// assigns them.
func (s *Store) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.errs.Failed("append audit", err)
	}
	defer tx.Rollback(ctx)
	// Its own round trip: queued in the batch, the lock would come after
	// the INSERTs were parsed, and parsing already takes ROW EXCLUSIVE.
	if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN EXCLUSIVE MODE`); err != nil {
		return s.errs.Failed("append audit", err)
	}
	b := &pgx.Batch{}
	for _, e := range events {
		b.Queue(`INSERT INTO audit_events (`+rows.AuditInsertColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rows.AuditValues(e)...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return s.errs.Failed("append audit", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.errs.Failed("append audit", err)
	}
	return nil
}

// ListAudit implements store.Audit. A zero since does not filter; a limit
// of zero or less returns nothing.
func (s *Store) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rs, err := s.pool.Query(ctx, `SELECT `+rows.AuditColumns+`
		FROM audit_events WHERE id > $1 AND occurred_at >= $2 ORDER BY id LIMIT $3`, afterID, rows.LowerBound(since), limit)
	return rows.List(s.errs, "list audit", rs, err, rows.ScanAuditEvent)
}

// DeleteAuditBefore implements store.Audit.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)`, rows.ToDB(t), store.AuditPurgeBatch)
		if err != nil {
			return total, s.errs.Failed("delete audit", err)
		}
		n := tag.RowsAffected()
		if total += n; n < store.AuditPurgeBatch {
			return total, nil
		}
	}
}
