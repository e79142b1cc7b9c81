package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/store"
)

// maxAPITokenBody bounds a request body of the API token endpoints.
const maxAPITokenBody = 16 << 10

// apiTokenEndpoint serves /api/tokens: NORA-style API tokens, created with
// a password given in the JSON body, listed and revoked with a password or
// with an API token as Bearer.
type apiTokenEndpoint struct {
	tokens    *apitoken.Tokens
	passwords authn.Authenticator // password users only: an API token never mints another
	callers   authn.Authenticator // API tokens, then passwords: Bearer API tokens
	rd        renderer
	limits    *limiter // failed-authentication budgets, checked before any password
}

func newAPITokenEndpoint(t *apitoken.Tokens, passwords, callers authn.Authenticator, rd renderer, limits *limiter) *apiTokenEndpoint {
	return &apiTokenEndpoint{tokens: t, passwords: passwords, callers: callers, rd: rd, limits: limits}
}

// Mount registers the routes.
func (e *apiTokenEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/api/tokens", e.create).Methods(http.MethodPost)
	r.HandleFunc("/api/tokens/list", e.list).Methods(http.MethodPost)
	r.HandleFunc("/api/tokens/revoke", e.revoke).Methods(http.MethodPost)
}

// bodyCredentials are a password user's name and password in a JSON body.
type bodyCredentials struct {
	Username string       `json:"username"`
	Password authn.Secret `json:"password"`
}

func (c bodyCredentials) given() bool { return c.Username != "" || c.Password != "" }

type createRequest struct {
	bodyCredentials
	Role        string `json:"role"`     // read (default), write, admin
	TTLDays     int    `json:"ttl_days"` // 0: the configured default
	Description string `json:"description"`
}

type createResponse struct {
	Token         string `json:"token"`
	ExpiresInDays int    `json:"expires_in_days"`
	HashPrefix    string `json:"hash_prefix"`
	Role          string `json:"role"`
	Expires       string `json:"expires"`
}

type listRequest struct {
	bodyCredentials
	Limit int    `json:"limit"` // 0: defaultPage; at most maxPage
	After string `json:"after"` // the previous page's next
}

type listResponse struct {
	Tokens []tokenItem `json:"tokens"`
	Next   string      `json:"next,omitempty"` // there may be more: pass it as after
}

// Pages of /api/tokens/list.
const (
	defaultPage = 100
	maxPage     = 1000
)

type revokeRequest struct {
	bodyCredentials
	HashPrefix string `json:"hash_prefix"`
}

// tokenItem describes a token without its secret. Times are RFC 3339;
// last_used and revoked are null when it never was.
type tokenItem struct {
	HashPrefix  string  `json:"hash_prefix"`
	Owner       string  `json:"owner,omitempty"` // in admins' lists and in revocations
	Role        string  `json:"role"`
	Description string  `json:"description"`
	Created     string  `json:"created"`
	Expires     string  `json:"expires"`
	LastUsed    *string `json:"last_used"`
	Revoked     *string `json:"revoked"`
}

// create serves POST /api/tokens.
func (e *apiTokenEndpoint) create(w http.ResponseWriter, r *http.Request) {
	// 1. Parse the JSON body.
	var req createRequest
	if derr := decodeJSONBody(w, r, &req, false); derr != nil {
		e.rd.docker(w, *derr)
		return
	}
	// 2. Authenticate the password user, unless a failure budget is spent;
	// an API token cannot mint tokens.
	if !e.limits.admit(w, r, req.Username, req.Password, e.rd.tooManyDocker) {
		return
	}
	c, derr, err := e.passwordCaller(r, req.bodyCredentials)
	if e.failed(w, r, derr, err) {
		return
	}
	// 3. Mint the token under the configured role, lifetime and count rules.
	raw, rec, err := e.tokens.Create(r.Context(), c, req.Role, req.TTLDays, req.Description)
	if err != nil {
		e.tokenError(w, r, err)
		return
	}
	// 4. Respond: the only time the token is shown.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, createResponse{
		Token:         raw,
		ExpiresInDays: int(rec.ExpiresAt.Sub(rec.CreatedAt) / (24 * time.Hour)),
		HashPrefix:    apitoken.HashPrefix(rec.Hash),
		Role:          rec.Role,
		Expires:       rfc3339(rec.ExpiresAt),
	})
}

// list serves POST /api/tokens/list.
func (e *apiTokenEndpoint) list(w http.ResponseWriter, r *http.Request) {
	// 1. Parse the JSON body (empty with a Bearer token).
	var req listRequest
	if derr := decodeJSONBody(w, r, &req, true); derr != nil {
		e.rd.docker(w, *derr)
		return
	}
	// 2. Authenticate: password in the body, or an API token as Bearer,
	// unless a failure budget is spent.
	if !e.admit(w, r, req.bodyCredentials) {
		return
	}
	c, derr, err := e.caller(r, req.bodyCredentials)
	if e.failed(w, r, derr, err) {
		return
	}
	// 3. Read a page of the caller's tokens, or of everyone's for an admin.
	page, derr := readPage(req.Limit, req.After)
	if derr != nil {
		e.rd.docker(w, *derr)
		return
	}
	var toks []store.APIToken
	if c.ActsAsAdmin() {
		toks, err = e.tokens.ListAll(r.Context(), page)
	} else {
		toks, err = e.tokens.List(r.Context(), c, page)
	}
	if err != nil {
		e.rd.storeOrInternalDocker(w, r, err)
		return
	}
	// 4. Respond without secrets.
	resp := listResponse{Tokens: make([]tokenItem, 0, len(toks))}
	for _, t := range toks {
		resp.Tokens = append(resp.Tokens, describe(t, c.ActsAsAdmin()))
	}
	if len(toks) == page.Limit {
		resp.Next = cursorOf(toks[len(toks)-1])
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// revoke serves POST /api/tokens/revoke.
func (e *apiTokenEndpoint) revoke(w http.ResponseWriter, r *http.Request) {
	// 1. Parse the JSON body.
	var req revokeRequest
	if derr := decodeJSONBody(w, r, &req, false); derr != nil {
		e.rd.docker(w, *derr)
		return
	}
	// 2. Authenticate: password in the body, or an API token as Bearer,
	// unless a failure budget is spent.
	if !e.admit(w, r, req.bodyCredentials) {
		return
	}
	c, derr, err := e.caller(r, req.bodyCredentials)
	if e.failed(w, r, derr, err) {
		return
	}
	// 3. Revoke: the caller's own token, or anyone's for an admin.
	rec, err := e.tokens.Revoke(r.Context(), c, req.HashPrefix)
	if err != nil {
		e.tokenError(w, r, err)
		return
	}
	// 4. Respond with the revoked token.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, describe(rec, true))
}

// caller authenticates a list or revoke request: an API token as Bearer
// (acting as its owner, with the owner's admin rights only if the token's
// role is admin), or password credentials in the body. Not both.
func (e *apiTokenEndpoint) caller(r *http.Request, body bodyCredentials) (authn.Identity, *DockerError, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return e.passwordCaller(r, body)
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		d := unauthorized("use username and password in the JSON body, or Authorization: Bearer with an API token")
		return authn.Identity{}, &d, nil
	}
	if body.given() {
		d := badRequest("credentials given twice", "send either an Authorization header or username and password, not both")
		return authn.Identity{}, &d, nil
	}
	tok = strings.TrimSpace(tok)
	var id authn.Identity
	err := authn.ErrBadCredentials
	if apitoken.LooksLike(tok) {
		id, err = e.callers.Authenticate(r.Context(), apitoken.Username, authn.Secret(tok))
	}
	if d := credentialFailure(err); d != nil {
		e.limits.failed(r, "", "")
		if !errors.Is(err, authn.ErrDisabled) {
			d.Message = "invalid, expired or revoked API token"
		}
		return authn.Identity{}, d, nil
	}
	if err != nil {
		return authn.Identity{}, nil, err
	}
	return id, nil, nil
}

// passwordCaller authenticates body credentials against the password users
// only, never against API tokens.
func (e *apiTokenEndpoint) passwordCaller(r *http.Request, body bodyCredentials) (authn.Identity, *DockerError, error) {
	if body.Username == "" || body.Password == "" {
		d := unauthorized("username and password are required in the JSON body")
		return authn.Identity{}, &d, nil
	}
	id, err := e.passwords.Authenticate(r.Context(), body.Username, body.Password)
	if d := credentialFailure(err); d != nil {
		if !errors.Is(err, authn.ErrDisabled) {
			e.limits.failed(r, body.Username, body.Password)
		}
		return authn.Identity{}, d, nil
	}
	if err != nil {
		return authn.Identity{}, nil, err
	}
	return id, nil, nil
}

// failed renders a client or internal error of authentication and reports
// whether there was one.
func (e *apiTokenEndpoint) failed(w http.ResponseWriter, r *http.Request, derr *DockerError, err error) bool {
	switch {
	case err != nil:
		e.rd.storeOrInternalDocker(w, r, err)
	case derr != nil:
		e.rd.docker(w, *derr)
	default:
		return false
	}
	return true
}

// tokenError maps the errors of pkg/authn/apitoken to HTTP.
func (e *apiTokenEndpoint) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, apitoken.ErrInvalidRole), errors.Is(err, apitoken.ErrTTL),
		errors.Is(err, apitoken.ErrDescription), errors.Is(err, apitoken.ErrInvalidPrefix):
		e.rd.docker(w, badRequest("invalid request", err.Error()))
	case errors.Is(err, apitoken.ErrRoleNotAllowed):
		e.rd.docker(w, DockerError{Status: http.StatusForbidden, Code: "DENIED", Message: "only admin users may create admin tokens"})
	case errors.Is(err, apitoken.ErrNotFound):
		e.rd.docker(w, DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such token"})
	case errors.Is(err, apitoken.ErrAmbiguousPrefix):
		e.rd.docker(w, DockerError{Status: http.StatusConflict, Code: "CONFLICT", Message: "hash prefix matches several tokens"})
	case credentialFailure(err) != nil: // the owner's account, read again
		e.rd.docker(w, *credentialFailure(err))
	case errors.Is(err, apitoken.ErrTooMany):
		e.rd.docker(w, DockerError{Status: http.StatusConflict, Code: "TOO_MANY_TOKENS",
			Message: "too many live API tokens", Detail: "revoke one first (api_tokens.max_per_user)"})
	default:
		e.rd.storeOrInternalDocker(w, r, err)
	}
}

// decodeJSONBody reads one JSON object of at most maxAPITokenBody bytes,
// refusing unknown fields and trailing data. An empty body is allowed when
// allowEmpty (it decodes as {}).
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) *DockerError {
	r.Body = http.MaxBytesReader(w, r.Body, maxAPITokenBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && allowEmpty {
		return nil
	}
	if err == nil {
		if extra := dec.Decode(&json.RawMessage{}); !errors.Is(extra, io.EOF) {
			err = extra
			if err == nil {
				err = errors.New("data after the JSON object")
			}
		}
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		d := DockerError{Status: http.StatusRequestEntityTooLarge, Code: "INVALID_REQUEST",
			Message: "request body too large", Detail: "at most 16 KiB"}
		return &d
	}
	d := badRequest("malformed JSON body", jsonProblem(err))
	return &d
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "invalid JSON"
	case errors.As(err, &typ) && typ.Field != "":
		return "field " + typ.Field + " has the wrong type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "want one JSON object"
}

// readPage reads a list request's limit and cursor.
func readPage(limit int, after string) (store.Page, *DockerError) {
	switch {
	case limit == 0:
		limit = defaultPage
	case limit < 0 || limit > maxPage:
		d := badRequest("invalid request", fmt.Sprintf("limit must be between 1 and %d", maxPage))
		return store.Page{}, &d
	}
	page := store.Page{Limit: limit}
	if after == "" {
		return page, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(after)
	nanos, hash, ok := strings.Cut(string(raw), ".")
	n, nerr := strconv.ParseInt(nanos, 10, 64)
	if err != nil || !ok || nerr != nil || hash == "" {
		d := badRequest("invalid request", "after is not a cursor this server gave")
		return store.Page{}, &d
	}
	page.AfterCreated, page.AfterHash = time.Unix(0, n).UTC(), hash
	return page, nil
}

// cursorOf is the opaque cursor of the page that follows t.
func cursorOf(t store.APIToken) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.CreatedAt.UnixNano(), 10) + "." + t.Hash))
}

// describe renders a token without its secret; withOwner adds the owner.
func describe(t store.APIToken, withOwner bool) tokenItem {
	item := tokenItem{
		HashPrefix:  apitoken.HashPrefix(t.Hash),
		Role:        t.Role,
		Description: t.Description,
		Created:     rfc3339(t.CreatedAt),
		Expires:     rfc3339(t.ExpiresAt),
		LastUsed:    optionalTime(t.LastUsedAt),
		Revoked:     optionalTime(t.RevokedAt),
	}
	if withOwner {
		item.Owner = t.Owner
	}
	return item
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}
