package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped); test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
	// ErrLimit: a create would pass a limit the caller set (CreateAPIToken).
	ErrLimit = errors.New("store: limit reached")
	// ErrUnavailable wraps failures that say the store cannot be reached
	// or cannot answer now (a database restarting, a connection refused, a
	// lock held too long): callers answer "try again later" (503), never
	// "invalid".
	ErrUnavailable = errors.New("store: unavailable")
)

// IsAnswer reports whether err is one of the store's answers (ErrNotFound,
// ErrConflict, ErrLimit): the store worked and said no. An answer is never
// ErrUnavailable, whatever else it wraps.
func IsAnswer(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrLimit)
}

// RefreshToken is a stored refresh (identity) token. Only the SHA-256 of
// the token is kept, never the token itself.
type RefreshToken struct {
	Hash      string // hex SHA-256 of the token
	Subject   string // the account or workload it was issued to
	AccountID string // Account.ID of that account: the token dies with it ("" for a workload, or a token older than accounts)
	Epoch     string // the password epoch it was issued under ("" when unknown): a new password ends it
	ClientID  string // the client that asked for it (audit only: clients share identity tokens)
	Service   string // the service it was issued for; it is good only for that one
	// Binding is, for a workload's token (AccountID ""), the federation
	// trust policy and claims it was issued under, as pkg/refresh writes
	// it (JSON); "" for an account's token.
	Binding   string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while not revoked
}

// Usable reports whether the token is neither expired nor revoked at now.
func (t RefreshToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// RefreshTokens keeps refresh tokens.
type RefreshTokens interface {
	// CreateRefreshToken stores t; ErrConflict if the hash exists.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with that hash, or ErrNotFound.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RevokeRefreshToken marks the token revoked at the given time; ErrNotFound
	// if there is none. Revoking twice keeps the first time.
	RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error
	// RevokeWorkloadRefreshTokens revokes, at the given time, every refresh
	// token issued to the workload subject (tokens with a Binding) that is
	// not revoked yet, and returns how many it revoked. An account's tokens
	// are never touched, whatever their subject.
	RevokeWorkloadRefreshTokens(ctx context.Context, subject string, at time.Time) (int64, error)
	// DeleteExpiredRefreshTokens removes tokens that expired before t.
	DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error)
}

// EngineRefreshToken is a stored refresh token of the Engine OAuth2 API.
// Unlike the Docker identity tokens (RefreshToken) they rotate: each use
// marks the token used and issues the next of its family; a used token
// presented again revokes the whole family (RFC 6819 §5.2.2.3). Only the
// SHA-256 of the token is kept.
type EngineRefreshToken struct {
	Hash      string // hex SHA-256 of the token
	FamilyID  string // shared by every token rotated from one password grant
	Subject   string // the password user it was issued to
	AccountID string // Account.ID of that user: the family dies with the account
	Epoch     string // the password epoch of the grant ("" when unknown): a new password ends the family
	ClientID  string // the client it was issued to (RFC 6749 §6)
	CreatedAt time.Time
	ExpiresAt time.Time // the family's end: rotation does not extend it
	UsedAt    time.Time // zero until rotated
	// RevokedAt is zero while the family is not revoked. Reads return the
	// family's first revocation, so a token created into a family after it
	// was revoked (a rotation racing a reuse) reads as revoked too.
	RevokedAt time.Time
}

// Usable reports whether the token is unused, not revoked and not expired at now.
func (t EngineRefreshToken) Usable(now time.Time) bool {
	return t.UsedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// EngineRefreshTokens keeps engine refresh tokens.
type EngineRefreshTokens interface {
	// CreateEngineRefreshToken stores t; ErrConflict if the hash exists.
	CreateEngineRefreshToken(ctx context.Context, t EngineRefreshToken) error
	// EngineRefreshToken returns the token with that hash, or ErrNotFound.
	EngineRefreshToken(ctx context.Context, hash string) (EngineRefreshToken, error)
	// UseEngineRefreshToken marks the token used at at, in one atomic
	// compare-and-set: of concurrent uses exactly one succeeds. It returns
	// the token as marked; ErrNotFound if there is none; the stored record
	// and ErrConflict if it was already used. Revocation and expiry are
	// not checked here (see Usable).
	UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (EngineRefreshToken, error)
	// RevokeEngineRefreshFamily revokes every token of the family at at
	// (keeping earlier revocation times) and returns how many it holds.
	RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error)
	// DeleteEngineRefreshTokens removes the tokens that expired before
	// expired, those of revoked families, and those used before used (a
	// used token is kept a while so that presenting it again is detected
	// as reuse). It returns how many it removed.
	DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error)
}

// APIToken is a stored API token (NORA style). Only the SHA-256 of the
// token is kept; the token itself is shown once, at creation.
type APIToken struct {
	Hash        string // hex SHA-256 of the token
	Owner       string // the htpasswd user it acts for
	AccountID   string // Account.ID of the owner: the token dies with the account
	Role        string // read, write or admin
	Description string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  time.Time // zero if never used (recorded in batches)
	RevokedAt   time.Time // zero while not revoked
}

// Usable reports whether the token is neither expired nor revoked at now.
func (t APIToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Page selects a part of a listing ordered by (CreatedAt, Hash): the items
// after the cursor, at most Limit of them (0: all).
type Page struct {
	AfterCreated time.Time // with AfterHash, the last item of the previous page; zero: from the start
	AfterHash    string
	Limit        int
}

// APITokens keeps API tokens.
type APITokens interface {
	// CreateAPIToken stores t; ErrConflict if the hash exists. When
	// maxLive > 0 and t.AccountID already has maxLive tokens that are
	// neither revoked nor expired at t.CreatedAt, it stores nothing and
	// returns ErrLimit; the count and the insert are one atomic step, so
	// concurrent creates never pass the limit.
	CreateAPIToken(ctx context.Context, t APIToken, maxLive int) error
	// APIToken returns the token with that hash, or ErrNotFound.
	APIToken(ctx context.Context, hash string) (APIToken, error)
	// FindAPIToken returns the one token whose hash starts with prefix:
	// ErrNotFound for none (or an empty prefix), ErrConflict for several.
	FindAPIToken(ctx context.Context, prefix string) (APIToken, error)
	// ListAPITokens returns the tokens of the account with that ID (every
	// token when accountID is ""), oldest first (ties by hash), revoked and
	// expired ones included, as page selects.
	ListAPITokens(ctx context.Context, accountID string, page Page) ([]APIToken, error)
	// RevokeAPIToken revokes the one token whose hash starts with prefix
	// and, unless accountID is "", belongs to the account with that ID.
	// ErrNotFound if there is none, ErrConflict if the prefix matches
	// several. Revoking twice keeps the first time. It returns the token as
	// revoked.
	RevokeAPIToken(ctx context.Context, prefix, accountID string, at time.Time) (APIToken, error)
	// TouchAPITokens records last-used times (hash → time) in one batch;
	// a time older than the stored one is ignored, unknown hashes too.
	TouchAPITokens(ctx context.Context, used map[string]time.Time) error
}

// AuditEvent is one audit record. Secrets never enter it.
type AuditEvent struct {
	ID        int64     // assigned by the store, increasing
	Time      time.Time // when it happened
	Kind      string    // e.g. token.issued, token.denied, apitoken.created, apitoken.revoked, key.rotated
	Subject   string    // the account acting ("" for anonymous)
	ClientIP  string
	ClientID  string
	Service   string
	Requested string // scopes asked, space-separated
	Granted   string // scopes granted, space-separated
	Detail    string // free text: the deciding rule, the token's hash prefix, the kid...
}

// Audit keeps the audit log.
type Audit interface {
	// AppendAudit stores the events in one transaction.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// ListAudit returns up to limit events with ID > afterID and Time >=
	// since, in ID order.
	ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]AuditEvent, error)
	// DeleteAuditBefore removes the events that happened before t and
	// returns how many (audit.retention). It deletes AuditPurgeBatch rows
	// at a time, so that a large backlog never holds writers up for long.
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)
}

// AuditPurgeBatch is how many audit rows one DELETE of DeleteAuditBefore
// removes: its write lock is held per batch, never for the whole purge.
const AuditPurgeBatch = 5000

// Client is a registered OAuth2 client of the engine API's
// client_credentials grant (RFC 6749 §4.4): an internal service that
// authenticates with its ID and secret (RFC 6749 §2.3.1) and may ask only
// for its configured audiences and scopes.
type Client struct {
	ID         string
	SecretHash string   // bcrypt hash of the secret; "" for a public client
	Audiences  []string // services it may ask tokens for, in the order given
	Scopes     []string // scopes it may ask for, in the order given
	// Description is free text for operators.
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time // zero if never set
}

// Clients keeps registered OAuth2 clients. Audiences and Scopes come back
// in the order stored; a nil or empty list comes back empty (length 0).
type Clients interface {
	// CreateClient stores c; ErrConflict if the ID exists.
	CreateClient(ctx context.Context, c Client) error
	// Client returns the client with that ID, or ErrNotFound.
	Client(ctx context.Context, id string) (Client, error)
	// ListClients returns every client in ID (byte-wise) order.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces the secret hash, audiences, scopes and
	// description of the client with c.ID and sets its UpdatedAt to
	// c.UpdatedAt; CreatedAt is kept. ErrNotFound if there is none.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient removes the client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
}

// KeyRing is the stored signing key ring that replicas share. The store
// does not look inside Data: the keys package serializes (and seals) it.
type KeyRing struct {
	Version   int64 // 1 for the first stored ring, +1 on every swap; 0 = none
	Data      []byte
	UpdatedAt time.Time
}

// KeyRings keeps the one signing key ring. Swaps are compare-and-swap on
// Version, so of several replicas that read version n and then try to
// rotate, exactly one succeeds and the others get ErrConflict (and reload).
type KeyRings interface {
	// KeyRing returns the stored ring, or ErrNotFound if none is stored yet.
	KeyRing(ctx context.Context) (KeyRing, error)
	// SwapKeyRing stores data as version oldVersion+1, updated at at, if
	// and only if the stored version is oldVersion (0: none is stored
	// yet); otherwise it changes nothing and returns ErrConflict. The check
	// and the write are one atomic step. It returns the new record.
	SwapKeyRing(ctx context.Context, oldVersion int64, data []byte, at time.Time) (KeyRing, error)
}

// Account types and states (Anchore's account model).
const (
	AccountAdmin    = "admin"
	AccountUser     = "user"
	AccountService  = "service"
	AccountEnabled  = "enabled"
	AccountDisabled = "disabled"
)

// Account is what Tollgate keeps about a user besides the password (which
// stays in the user backend, e.g. the htpasswd file). Its ID is made when
// the account is created and never reused: every stored credential names
// the ID it was issued to, so removing a user and adding the same name
// again never revives what the first one held.
type Account struct {
	ID        string // a random UUID
	Name      string
	Email     string
	Type      string // AccountAdmin, AccountUser or AccountService
	State     string // AccountEnabled or AccountDisabled
	CreatedAt time.Time
	UpdatedAt time.Time
	// TokensNotBefore: access tokens issued to the account before it are
	// refused wherever Tollgate checks them (revoke-tokens sets it).
	TokensNotBefore time.Time
	// Source is the user backend whose user the account was made for
	// (authn.Identity.Source: "htpasswd", "ldap", "oidc:corp"); "" for an
	// account made before accounts remembered it, or by an administrator
	// for a user not seen yet. It never changes: a later login through
	// another backend leaves it.
	Source string
}

// AccountChange is what UpdateAccount changes: the fields that are set.
type AccountChange struct {
	Email *string
	Type  *string
	State *string
	// TokensNotBefore, when set, raises the account's TokensNotBefore to
	// it (a later one already stored is kept).
	TokensNotBefore time.Time
	At              time.Time // the new UpdatedAt
}

// Enabled reports whether the account may authenticate.
func (a Account) Enabled() bool { return a.State == AccountEnabled }

// Credential kinds, for RevokeCredentials.
type CredentialKinds uint8

// The kinds of stored credential an account holds.
const (
	KindRefresh       CredentialKinds = 1 << iota // Docker identity tokens (refresh_tokens)
	KindEngineRefresh                             // engine refresh-token families
	KindAPIToken                                  // API tokens
	AllKinds          = KindRefresh | KindEngineRefresh | KindAPIToken
)

// Revoked counts what a revocation ended (tokens not already revoked).
type Revoked struct {
	RefreshTokens       int64 // Docker identity tokens
	EngineRefreshTokens int64 // engine refresh tokens (rows of every family)
	APITokens           int64
}

// Total is the number of credentials ended.
func (r Revoked) Total() int64 { return r.RefreshTokens + r.EngineRefreshTokens + r.APITokens }

// Accounts keeps accounts and ends the credentials bound to them.
type Accounts interface {
	// CreateAccount stores a; ErrConflict if an account has that name or ID.
	CreateAccount(ctx context.Context, a Account) error
	// CreateAccounts stores, in one transaction, those of accounts whose
	// name and ID no account has (the others are left as they are), and
	// returns how many it stored: a server starting over many users pays
	// one durable commit, not one per user.
	CreateAccounts(ctx context.Context, accounts []Account) (int64, error)
	// Account returns the account named name, or ErrNotFound.
	Account(ctx context.Context, name string) (Account, error)
	// ListAccounts returns every account in name (byte-wise) order.
	ListAccounts(ctx context.Context) ([]Account, error)
	// UpdateAccount applies c to the account with that ID in one statement
	// (changes to different fields never undo each other) and returns the
	// account as changed; ErrNotFound if none has the ID.
	UpdateAccount(ctx context.Context, id string, c AccountChange) (Account, error)
	// AdoptEpochs gives the refresh tokens and engine refresh tokens that
	// have no password epoch (stored before epochs existed) the epoch of
	// their account (account ID → epoch), in one transaction, so that the
	// next password change ends them too. It returns how many it changed.
	AdoptEpochs(ctx context.Context, epochs map[string]string) (int64, error)
	// DeleteAccount removes the account with that ID and revokes, in the
	// same transaction, every credential bound to it. ErrNotFound if none
	// has it.
	DeleteAccount(ctx context.Context, id string, at time.Time) (Revoked, error)
	// RevokeCredentials revokes at at the credentials of the given kinds
	// bound to the account ID, in one transaction. Refresh tokens and
	// engine refresh families issued under keepEpoch are kept when it is
	// not "" (a password change ends only what the old password made).
	RevokeCredentials(ctx context.Context, accountID string, kinds CredentialKinds, keepEpoch string, at time.Time) (Revoked, error)
}

// Session is a signed-in browser session of the web UI. Only the
// SHA-256 of its ID (the cookie's value) is kept.
type Session struct {
	Hash      string    // hex SHA-256 of the session ID
	Subject   string    // the user signed in
	AccountID string    // their account ("" when unknown)
	Source    string    // the backend that vouched (htpasswd, ldap, oidc:NAME)
	Admin     bool      // signed in as an administrator
	Groups    []string  // the groups vouched for at sign-in, in the order given
	CSRF      string    // the session's CSRF token (random, not secret from the user; kept to check forms)
	CreatedAt time.Time // absolute timeout counts from here
	SeenAt    time.Time // idle timeout counts from here
	ExpiresAt time.Time // CreatedAt + the absolute timeout
}

// Sessions keeps the web UI's sessions, so that every replica knows them.
// The store does not judge expiry on reads: Session returns an expired
// session as stored, and the caller (pkg/session) decides. Groups come
// back in the order stored; a nil or empty list comes back empty.
type Sessions interface {
	// CreateSession stores s; ErrConflict if the hash exists.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with that hash, or ErrNotFound.
	Session(ctx context.Context, hash string) (Session, error)
	// TouchSession sets the session's SeenAt to at, unless it holds a
	// later time already (of concurrent touches the latest wins);
	// ErrNotFound if there is no such session.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	// DeleteSession removes the session; removing one that is not there
	// is no error (signing out twice).
	DeleteSession(ctx context.Context, hash string) error
	// DeleteUserSessions removes every session of subject (sign out
	// everywhere, an administrator disabling the user) and returns how
	// many it removed.
	DeleteUserSessions(ctx context.Context, subject string) (int64, error)
	// DeleteExpiredSessions removes the sessions that expired at now
	// (ExpiresAt <= now) or were last seen before idleBefore, and returns
	// how many it removed.
	DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error)
}

// Store is everything a backend provides.
type Store interface {
	RefreshTokens
	EngineRefreshTokens
	APITokens
	Audit
	Clients
	KeyRings
	Accounts
	Sessions
	Ping(ctx context.Context) error
	Close() error
}
