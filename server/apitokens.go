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
	"github.com/tollgate/tollgate/pkg/grant"
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
	// 1-2. Parse the JSON body and authenticate the password user: an API
	// token cannot mint tokens.
	var req createRequest
	c, err := e.authenticate(w, r, &req, &req.bodyCredentials, passwordOnly)
	// 3. Mint the token under the configured role, lifetime and count rules.
	var raw string
	var rec store.APIToken
	if err == nil {
		raw, rec, err = e.tokens.Create(r.Context(), c, req.Role, req.TTLDays, req.Description)
	}
	if err != nil {
		e.rd.dockerFailure(w, r, tokenError(err))
		return
	}
	// 4. Respond: the only time the token is shown.
	writePrivate(w, http.StatusOK, createResponse{
		Token:         raw,
		ExpiresInDays: int(rec.ExpiresAt.Sub(rec.CreatedAt) / (24 * time.Hour)),
		HashPrefix:    apitoken.HashPrefix(rec.Hash),
		Role:          rec.Role,
		Expires:       rfc3339(rec.ExpiresAt),
	})
}

// list serves POST /api/tokens/list.
func (e *apiTokenEndpoint) list(w http.ResponseWriter, r *http.Request) {
	// 1-2. Parse the JSON body (empty with a Bearer token) and authenticate.
	var req listRequest
	c, err := e.authenticate(w, r, &req, &req.bodyCredentials, bearerEmptyBody)
	// 3. Read a page of the caller's tokens, or of everyone's for an admin.
	var toks []store.APIToken
	var page store.Page
	if err == nil {
		page, err = readPage(req.Limit, req.After)
	}
	if err == nil && c.ActsAsAdmin() {
		toks, err = e.tokens.ListAll(r.Context(), page)
	} else if err == nil {
		toks, err = e.tokens.List(r.Context(), c, page)
	}
	if err != nil {
		e.rd.dockerFailure(w, r, err)
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
	writePrivate(w, http.StatusOK, resp)
}

// revoke serves POST /api/tokens/revoke.
func (e *apiTokenEndpoint) revoke(w http.ResponseWriter, r *http.Request) {
	// 1-2. Parse the JSON body and authenticate.
	var req revokeRequest
	c, err := e.authenticate(w, r, &req, &req.bodyCredentials, bearerToo)
	// 3. Revoke: the caller's own token, or anyone's for an admin.
	var rec store.APIToken
	if err == nil {
		rec, err = e.tokens.Revoke(r.Context(), c, req.HashPrefix)
	}
	if err != nil {
		e.rd.dockerFailure(w, r, tokenError(err))
		return
	}
	// 4. Respond with the revoked token.
	writePrivate(w, http.StatusOK, describe(rec, true))
}

// callers says whom an API-token endpoint takes.
type callers uint8

const (
	passwordOnly    callers = iota // a password user in the body: an API token never mints another
	bearerToo                      // or an API token as Bearer
	bearerEmptyBody                // or an API token as Bearer, the body then possibly empty
)

// authenticate decodes the JSON body into v and authenticates its caller:
// the password user of body, or an API token as Bearer where the endpoint
// takes one (acting as its owner, with the owner's admin rights only if
// the token's role is admin). Not both. Failures spend the budgets
// (grant.Authenticate).
func (e *apiTokenEndpoint) authenticate(w http.ResponseWriter, r *http.Request, v any, body *bodyCredentials,
	who callers) (authn.Identity, error) {
	h := r.Header.Get("Authorization")
	if err := decodeJSONBody(w, r, v, who == bearerEmptyBody); err != nil {
		return authn.Identity{}, err
	}
	req := grant.Request{Username: body.Username, Password: body.Password, Budget: e.limits.budget(r)}
	var handler grant.Handler = grant.Password{Authn: e.passwords}
	scheme, tok, _ := strings.Cut(h, " ")
	switch {
	case h == "" && (body.Username == "" || body.Password == ""):
		return authn.Identity{}, unauthorized("username and password are required in the JSON body")
	case h == "":
	case who == passwordOnly || !strings.EqualFold(scheme, "Bearer"):
		return authn.Identity{}, unauthorized("use username and password in the JSON body, or Authorization: Bearer with an API token")
	case body.given():
		return authn.Identity{}, badRequest("credentials given twice", "send either an Authorization header or username and password, not both")
	default:
		req.Password, handler = authn.Secret(strings.TrimSpace(tok)), grant.APIToken{Authn: e.callers}
	}
	return grant.Authenticate(r.Context(), handler, &req)
}

// tokenError maps the errors of pkg/authn/apitoken to the Docker errors
// they are; others are returned as they are.
func tokenError(err error) error {
	switch {
	case errors.Is(err, apitoken.ErrInvalidRole), errors.Is(err, apitoken.ErrTTL),
		errors.Is(err, apitoken.ErrDescription), errors.Is(err, apitoken.ErrInvalidPrefix):
		return badRequest("invalid request", err.Error())
	case errors.Is(err, apitoken.ErrRoleNotAllowed):
		return DockerError{Status: http.StatusForbidden, Code: "DENIED", Message: "only admin users may create admin tokens"}
	case errors.Is(err, apitoken.ErrNotFound):
		return DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such token"}
	case errors.Is(err, apitoken.ErrAmbiguousPrefix):
		return DockerError{Status: http.StatusConflict, Code: "CONFLICT", Message: "hash prefix matches several tokens"}
	case errors.Is(err, apitoken.ErrTooMany):
		return DockerError{Status: http.StatusConflict, Code: "TOO_MANY_TOKENS",
			Message: "too many live API tokens", Detail: "revoke one first (api_tokens.max_per_user)"}
	}
	return grant.Credentials(err, "") // the owner's account, read again
}

// decodeJSONBody reads one JSON object of at most maxAPITokenBody bytes,
// refusing unknown fields and trailing data. An empty body is allowed when
// allowEmpty (it decodes as {}).
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
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
		return DockerError{Status: http.StatusRequestEntityTooLarge, Code: "INVALID_REQUEST",
			Message: "request body too large", Detail: "at most 16 KiB"}
	}
	return badRequest("malformed JSON body", jsonProblem(err))
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
func readPage(limit int, after string) (store.Page, error) {
	switch {
	case limit == 0:
		limit = defaultPage
	case limit < 0 || limit > maxPage:
		return store.Page{}, badRequest("invalid request", fmt.Sprintf("limit must be between 1 and %d", maxPage))
	}
	page := store.Page{Limit: limit}
	if after == "" {
		return page, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(after)
	nanos, hash, ok := strings.Cut(string(raw), ".")
	n, nerr := strconv.ParseInt(nanos, 10, 64)
	if err != nil || !ok || nerr != nil || hash == "" {
		return store.Page{}, badRequest("invalid request", "after is not a cursor this server gave")
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
