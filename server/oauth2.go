package server

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	oauthserver "github.com/go-oauth2/oauth2/v4/server"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
)

// oauthTokenResponse is the POST response (distribution oauth.md).
type oauthTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// servePost serves POST /oauth2/token: the grants of e.post (password and
// refresh_token).
func (e *tokenEndpoint) servePost(w http.ResponseWriter, r *http.Request) {
	// 1. Parse (go-oauth2 validates the grant's parameters).
	req, err := e.parsePost(w, r)
	// 2-4. Authenticate, authorize and mint.
	var res grant.Result
	if err == nil {
		res, err = runLogged(r, e.post, req, e.rd.logger)
	}
	if err != nil {
		e.rd.oauthFailure(w, r, err)
		return
	}
	// 5. Respond.
	writeToken(w, oauthTokenResponse{
		AccessToken:  res.Token.Raw,
		TokenType:    "Bearer",
		ExpiresIn:    expiresIn(res),
		IssuedAt:     res.Token.IssuedAt.UTC().Format(time.RFC3339),
		Scope:        scope.Join(res.Granted),
		RefreshToken: res.RefreshToken,

		IssuedTokenType: issuedTokenType(req),
	})
}

// exchangeTarget is the refusal of a service not served: invalid_target
// for a token exchange (RFC 8693 §2.2.2), invalid_request for the rest.
func exchangeTarget(req grant.Request, err error) error {
	if e, ok := grant.AsError(err); ok && req.GrantType == grant.TypeTokenExchange {
		e.Code = grant.ErrInvalidTarget
	}
	return err
}

// issuedTokenType is the issued_token_type of a token exchange's answer
// (RFC 8693 §2.2.1): an access token; "" for any other grant.
func issuedTokenType(req grant.Request) string {
	if req.GrantType == grant.TypeTokenExchange {
		return grant.TokenTypeAccessToken
	}
	return ""
}

// parsePost reads a POST token request. A foreign service fails before any
// password is checked; a missing one is left to the grant (a refresh token
// names its own service). access_type=offline asks a password grant for a
// refresh token, and a refresh grant for the same one back (oauth.md).
func (e *tokenEndpoint) parsePost(w http.ResponseWriter, r *http.Request) (grant.Request, error) {
	if err := parseForm(w, r); err != nil {
		return grant.Request{}, err
	}
	req, err := e.oauth.parse(r)
	if err != nil {
		return grant.Request{}, err
	}
	if req.Scopes, err = scope.ParseAll(r.Form["scope"]); err != nil {
		return grant.Request{}, &grant.Error{Code: oautherrors.ErrInvalidScope, Message: err.Error()}
	}
	req.Scope = nil
	req.Service = r.Form.Get("service")
	if req.Service == "" && req.GrantType == grant.TypeTokenExchange {
		req.Service = r.Form.Get("audience") // RFC 8693 §2.1's name for it
	}
	if req.Service != "" {
		if err := e.post.Service.CheckService(req.Service); err != nil {
			return grant.Request{}, exchangeTarget(req, err)
		}
	}
	req.Offline = r.Form.Get("access_type") == "offline"
	req.Budget = e.limits.budget(r)
	return req, nil
}

// oauthParser validates RFC 6749 token requests with go-oauth2 (the grant
// type, the client, each grant's required parameters) and reads them into
// grant requests; authentication is the pipeline's.
type oauthParser struct {
	grants  grant.Table
	srv     *oauthserver.Server
	clients oauthserver.ClientInfoHandler
}

// newOAuthParser configures go-oauth2's server for the grants of t with
// the given client rule. Minting and refresh tokens stay ours: Docker
// identity tokens are reused by every client under its own client_id and
// must not rotate, which go-oauth2's manager does not allow.
func newOAuthParser(t grant.Table, clients oauthserver.ClientInfoHandler) oauthParser {
	cfg := oauthserver.NewConfig()
	srv := oauthserver.NewServer(cfg, manage.NewManager())
	srv.SetClientInfoHandler(clients)
	srv.SetPasswordAuthorizationHandler(func(_ context.Context, _, username, _ string) (string, error) {
		return username, nil // validated only: the pipeline authenticates
	})
	return oauthParser{grants: t, srv: srv, clients: clients}
}

// parse validates the parsed form of r.
func (p oauthParser) parse(r *http.Request) (grant.Request, error) {
	gt := r.Form.Get("grant_type")
	if _, ok := p.grants.Find(gt); !ok {
		return grant.Request{}, p.grants.Unsupported()
	}
	if gt == grant.TypeTokenExchange {
		return p.parseExchange(r)
	}
	_, tgr, err := p.srv.ValidationTokenRequest(r)
	if err != nil {
		return grant.Request{}, p.validationError(gt, err)
	}
	req := grant.Request{
		GrantType: gt, ClientID: tgr.ClientID, ClientSecret: authn.Secret(tgr.ClientSecret),
		Username: r.Form.Get("username"), Password: authn.Secret(r.Form.Get("password")),
		RefreshToken: tgr.Refresh, Scope: strings.Fields(tgr.Scope), ClientIP: clientIP(r),
		Tried: r.Form.Get("username"),
	}
	if gt == grant.TypeClientCredentials {
		req.Tried = tgr.ClientID
	}
	return req, nil
}

// parseExchange reads an RFC 8693 token exchange (§2.1), which go-oauth2
// does not know: the client rule applies as to every grant; the handler
// checks the token and its type.
func (p oauthParser) parseExchange(r *http.Request) (grant.Request, error) {
	clientID, _, err := p.clients(r)
	if err != nil {
		return grant.Request{}, err
	}
	f := r.Form
	return grant.Request{
		GrantType: grant.TypeTokenExchange, ClientID: clientID, Tried: clientID,
		SubjectToken: authn.Secret(f.Get("subject_token")), SubjectTokenType: f.Get("subject_token_type"),
		RequestedTokenType: f.Get("requested_token_type"), ActorToken: f.Get("actor_token") != "",
		Scope: strings.Fields(f.Get("scope")), ClientIP: clientIP(r),
	}, nil
}

// validationError is the refusal of a request go-oauth2 found invalid.
func (p oauthParser) validationError(gt string, err error) error {
	switch {
	case errors.Is(err, oautherrors.ErrUnsupportedGrantType):
		return p.grants.Unsupported()
	case errors.Is(err, oautherrors.ErrInvalidRequest):
		return grant.Invalid(missingParams(gt), "")
	}
	return err // a *grant.Error of the client rule, or internal
}

// missingParams explains an invalid_request from go-oauth2's validation.
func missingParams(gt string) string {
	switch gt {
	case grant.TypePassword:
		return "username and password are required"
	case grant.TypeRefreshToken:
		return "refresh_token is required"
	case grant.TypeClientCredentials:
		return "malformed client_credentials request"
	}
	return "malformed token request"
}

// publicClient accepts any client_id without a secret: Docker clients send
// their own names (docker, go-containerregistry, oras-go, regclient/regctl).
func publicClient(r *http.Request) (string, string, error) {
	id := r.Form.Get("client_id")
	if id == "" {
		return "", "", errNoClientID
	}
	if err := client.CheckID(id); err != nil {
		return "", "", grant.Malformed(err)
	}
	return id, "", nil
}

// errNoClientID: a public client must name itself (RFC 6749 §3.2.1).
var errNoClientID = grant.Invalid("client_id is required", "")

// parseForm accepts only a bounded form body; parameters in the URL query
// are ignored (oauth.md: they are POST parameters, and credentials do not
// belong in URLs).
func parseForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return grant.Invalid("Content-Type must be application/x-www-form-urlencoded", "")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errFormTooLarge
		}
		return grant.Invalid("malformed or oversized form body", "")
	}
	r.Form = r.PostForm
	return nil
}

// errFormTooLarge is a form body over maxFormBytes (413).
var errFormTooLarge = &grant.Error{Code: oautherrors.ErrInvalidRequest, Message: "malformed or oversized form body"}
