package sqlstore

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// ListAudit implements store.Audit. A zero since does not filter; a limit
// of zero or less returns nothing.
func (s *Store) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rs, err := s.db.Query(ctx, `SELECT `+rows.AuditColumns+`
		FROM audit_events WHERE id > $1 AND occurred_at >= $2 ORDER BY id LIMIT $3`, afterID, rows.LowerBound(since), limit)
	return rows.List(s.errs, "list audit", rs, err, rows.ScanAuditEvent)
}

// DeleteAuditBefore implements store.Audit.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.db.Exec(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)`, rows.ToDB(t), store.AuditPurgeBatch)
		if err != nil {
			return total, s.errs.Failed("delete audit", err)
		}
		if total += n; n < store.AuditPurgeBatch {
			return total, nil
		}
	}
}
