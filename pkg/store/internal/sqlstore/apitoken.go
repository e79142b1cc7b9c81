package sqlstore

import (
	"context"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// APIToken implements store.APITokens.
func (s *Store) APIToken(ctx context.Context, hash string) (store.APIToken, error) {
	return rows.One(s.errs, "api token", "get api token",
		s.db.QueryRow(ctx, `SELECT `+rows.APITokenColumns+` FROM api_tokens WHERE hash = $1`, hash), rows.ScanAPIToken)
}
