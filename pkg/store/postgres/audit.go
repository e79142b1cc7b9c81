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
	var b pgx.Batch
	for _, e := range events {
		b.Queue(`INSERT INTO audit_events (`+rows.AuditInsertColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rows.AuditValues(e)...)
	}
	return s.errs.Failed("append audit", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Its own round trip: queued in the batch, the lock would come after
		// the INSERTs were parsed, and parsing already takes ROW EXCLUSIVE.
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		_, err := sendBatch(ctx, tx, &b)
		return err
	}))
}
