package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// AppendAudit implements store.Audit: all events or none. IDs the caller
// set are ignored; the store assigns them.
func (s *Store) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return errs.Failed("append audit", s.withTx(ctx, func(tx *sql.Tx) error {
		for len(events) > 0 {
			n := min(len(events), auditRowsPerInsert)
			if err := insertAudit(ctx, tx, events[:n]); err != nil {
				return err
			}
			events = events[n:]
		}
		return nil
	}))
}

// auditRowsPerInsert is how many audit rows one INSERT writes: a busy
// server appends thousands a second, and SQLite's cost is mostly per
// statement (9 columns × 64 rows stays far below its 32766 parameters).
const auditRowsPerInsert = 64

// insertAudit writes events with one multi-row INSERT.
func insertAudit(ctx context.Context, tx *sql.Tx, events []store.AuditEvent) error {
	var q strings.Builder
	q.Grow(64 + len(events)*40)
	q.WriteString(`INSERT INTO audit_events (` + rows.AuditInsertColumns + `) VALUES `)
	args := make([]any, 0, len(events)*9)
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, rows.AuditValues(e)...)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}
