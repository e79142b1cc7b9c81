package postgres

import (
	"context"

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
