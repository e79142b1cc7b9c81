package rows

import (
	"fmt"

	"github.com/tollgate/tollgate/pkg/store"
)

// Scanner is one result row: *sql.Row and *sql.Rows (database/sql),
// pgx.Row and pgx.Rows (pgx v5) all satisfy it.
type Scanner interface {
	Scan(dest ...any) error
}

// Iter is a result set: *sql.Rows and pgx.Rows satisfy it. Closing it stays
// with the caller, as the two drivers' Close methods differ.
type Iter interface {
	Scanner
	Next() bool
	Err() error
}

// All scans every row of it with scan. It returns nil for no rows.
func All[T any](it Iter, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for it.Next() {
		v, err := scan(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ClientColumns are the columns ScanClient reads, in order.
const ClientColumns = `id, secret_hash, audiences, scopes, description, created_at, updated_at`

// ClientValues are c's values for ClientColumns, in order.
func ClientValues(c store.Client) ([]any, error) {
	aud, scopes, err := ClientLists(c)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.SecretHash, aud, scopes, c.Description, ToDB(c.CreatedAt), NullTime(c.UpdatedAt)}, nil
}

// ScanClient reads a row of ClientColumns.
func ScanClient(r Scanner) (store.Client, error) {
	var (
		c           store.Client
		aud, scopes string
		created     int64
		updated     *int64
	)
	if err := r.Scan(&c.ID, &c.SecretHash, &aud, &scopes, &c.Description, &created, &updated); err != nil {
		return store.Client{}, err
	}
	var err error
	if c.Audiences, err = DecodeList(aud); err != nil {
		return store.Client{}, fmt.Errorf("client %q audiences: %w", c.ID, err)
	}
	if c.Scopes, err = DecodeList(scopes); err != nil {
		return store.Client{}, fmt.Errorf("client %q scopes: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = FromDB(created), FromNull(updated)
	return c, nil
}

// APITokenColumns are the columns ScanAPIToken reads, in order.
const APITokenColumns = `hash, owner, account_id, role, description, created_at, expires_at, last_used_at, revoked_at`

// APITokenValues are t's values for APITokenColumns, in order.
func APITokenValues(t store.APIToken) []any {
	return []any{t.Hash, t.Owner, t.AccountID, t.Role, t.Description, ToDB(t.CreatedAt), ToDB(t.ExpiresAt),
		NullTime(t.LastUsedAt), NullTime(t.RevokedAt)}
}

// ScanAPIToken reads a row of APITokenColumns.
func ScanAPIToken(r Scanner) (store.APIToken, error) {
	var (
		t                 store.APIToken
		created, expires  int64
		lastUsed, revoked *int64
	)
	if err := r.Scan(&t.Hash, &t.Owner, &t.AccountID, &t.Role, &t.Description, &created, &expires, &lastUsed, &revoked); err != nil {
		return store.APIToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = FromDB(created), FromDB(expires)
	t.LastUsedAt, t.RevokedAt = FromNull(lastUsed), FromNull(revoked)
	return t, nil
}

// RefreshTokenColumns are the columns ScanRefreshToken reads, in order.
const RefreshTokenColumns = `hash, subject, account_id, epoch, client_id, service, binding, created_at, expires_at, revoked_at`

// RefreshTokenValues are t's values for RefreshTokenColumns, in order.
func RefreshTokenValues(t store.RefreshToken) []any {
	return []any{t.Hash, t.Subject, t.AccountID, t.Epoch, t.ClientID, t.Service, t.Binding, ToDB(t.CreatedAt),
		ToDB(t.ExpiresAt), NullTime(t.RevokedAt)}
}

// ScanRefreshToken reads a row of RefreshTokenColumns.
func ScanRefreshToken(r Scanner) (store.RefreshToken, error) {
	var (
		t                store.RefreshToken
		created, expires int64
		revoked          *int64
	)
	if err := r.Scan(&t.Hash, &t.Subject, &t.AccountID, &t.Epoch, &t.ClientID, &t.Service, &t.Binding,
		&created, &expires, &revoked); err != nil {
		return store.RefreshToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = FromDB(created), FromDB(expires), FromNull(revoked)
	return t, nil
}

// EngineRefreshColumns are the columns of engine_refresh_tokens, in the
// order ScanEngineRefreshToken reads them.
const EngineRefreshColumns = `hash, family_id, subject, account_id, epoch, client_id, created_at, expires_at, used_at, revoked_at`

// EngineRefreshValues are t's values for EngineRefreshColumns, in order.
func EngineRefreshValues(t store.EngineRefreshToken) []any {
	return []any{t.Hash, t.FamilyID, t.Subject, t.AccountID, t.Epoch, t.ClientID, ToDB(t.CreatedAt), ToDB(t.ExpiresAt),
		NullTime(t.UsedAt), NullTime(t.RevokedAt)}
}

// EngineRefreshRead is EngineRefreshColumns as read: with, as revoked_at,
// the first revocation of the token's family, so that a token created after
// its family was revoked (its rotation racing a reuse) is revoked too.
const EngineRefreshRead = `hash, family_id, subject, account_id, epoch, client_id, created_at, expires_at, used_at,
	COALESCE(revoked_at, (SELECT MIN(f.revoked_at) FROM engine_refresh_tokens f
		WHERE f.family_id = engine_refresh_tokens.family_id))`

// ScanEngineRefreshToken reads a row of EngineRefreshColumns, or of an
// expression list in that order.
func ScanEngineRefreshToken(r Scanner) (store.EngineRefreshToken, error) {
	var (
		t                store.EngineRefreshToken
		created, expires int64
		used, revoked    *int64
	)
	if err := r.Scan(&t.Hash, &t.FamilyID, &t.Subject, &t.AccountID, &t.Epoch, &t.ClientID, &created, &expires, &used, &revoked); err != nil {
		return store.EngineRefreshToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = FromDB(created), FromDB(expires), FromNull(used), FromNull(revoked)
	return t, nil
}

// AuditColumns are the columns ScanAuditEvent reads, in order.
const AuditColumns = `id, occurred_at, kind, subject, client_ip, client_id, service, requested, granted, detail`

// AuditInsertColumns are AuditColumns without the id the database
// assigns: those AuditValues fills.
const AuditInsertColumns = `occurred_at, kind, subject, client_ip, client_id, service, requested, granted, detail`

// AuditValues are e's values for AuditInsertColumns, in order.
func AuditValues(e store.AuditEvent) []any {
	return []any{ToDB(e.Time), e.Kind, e.Subject, e.ClientIP, e.ClientID, e.Service, e.Requested, e.Granted, e.Detail}
}

// ScanAuditEvent reads a row of AuditColumns.
func ScanAuditEvent(r Scanner) (store.AuditEvent, error) {
	var (
		e  store.AuditEvent
		at int64
	)
	if err := r.Scan(&e.ID, &at, &e.Kind, &e.Subject, &e.ClientIP, &e.ClientID,
		&e.Service, &e.Requested, &e.Granted, &e.Detail); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = FromDB(at)
	return e, nil
}

// KeyRingColumns are the columns ScanKeyRing reads, in order.
const KeyRingColumns = `version, data, updated_at`

// ScanKeyRing reads a row of KeyRingColumns. Data is never nil.
func ScanKeyRing(r Scanner) (store.KeyRing, error) {
	var (
		k  store.KeyRing
		at *int64
	)
	if err := r.Scan(&k.Version, &k.Data, &at); err != nil {
		return store.KeyRing{}, err
	}
	if k.Data == nil {
		k.Data = []byte{}
	}
	k.UpdatedAt = FromNull(at)
	return k, nil
}

// AccountColumns are the columns ScanAccount reads, in order.
const AccountColumns = `id, name, email, type, state, created_at, updated_at, tokens_not_before, source`

// AccountValues are a's values for AccountColumns, in order.
func AccountValues(a store.Account) []any {
	return []any{a.ID, a.Name, a.Email, a.Type, a.State, ToDB(a.CreatedAt), ToDB(a.UpdatedAt), NullTime(a.TokensNotBefore),
		a.Source}
}

// ScanAccount reads a row of AccountColumns.
func ScanAccount(r Scanner) (store.Account, error) {
	var (
		a                store.Account
		created, updated int64
		notBefore        *int64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.Email, &a.Type, &a.State, &created, &updated, &notBefore, &a.Source); err != nil {
		return store.Account{}, err
	}
	a.CreatedAt, a.UpdatedAt, a.TokensNotBefore = FromDB(created), FromDB(updated), FromNull(notBefore)
	return a, nil
}

// SessionColumns are the columns ScanSession reads, in order.
const SessionColumns = `hash, subject, account_id, source, admin, group_names, csrf, created_at, seen_at, expires_at`

// SessionValues are s's values for SessionColumns, in order; the groups
// as a JSON array (an error for invalid UTF-8).
func SessionValues(s store.Session) ([]any, error) {
	groups, err := EncodeList(s.Groups)
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	return []any{s.Hash, s.Subject, s.AccountID, s.Source, s.Admin, groups, s.CSRF,
		ToDB(s.CreatedAt), ToDB(s.SeenAt), ToDB(s.ExpiresAt)}, nil
}

// ScanSession reads a row of SessionColumns. Groups is never nil.
func ScanSession(r Scanner) (store.Session, error) {
	var (
		s                      store.Session
		groups                 string
		created, seen, expires int64
	)
	if err := r.Scan(&s.Hash, &s.Subject, &s.AccountID, &s.Source, &s.Admin, &groups, &s.CSRF,
		&created, &seen, &expires); err != nil {
		return store.Session{}, err
	}
	var err error
	if s.Groups, err = DecodeList(groups); err != nil {
		return store.Session{}, fmt.Errorf("session groups: %w", err)
	}
	s.CreatedAt, s.SeenAt, s.ExpiresAt = FromDB(created), FromDB(seen), FromDB(expires)
	return s, nil
}
