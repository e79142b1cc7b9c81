package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
)

// signinData is what the sign-in page shows.
type signinData struct {
	Token     string   // the form's CSRF token (double-submit cookie)
	Username  string   // as typed, after a refusal
	Providers []string // names of the OpenID Connect providers
}

func (e *uiEndpoint) home(w http.ResponseWriter, r *http.Request) {
	if _, err := e.viewer(r); err != nil {
		http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
}

// signinForm shows the sign-in page with a fresh form token.
func (e *uiEndpoint) signinForm(w http.ResponseWriter, r *http.Request) {
	e.showSignin(w, r, http.StatusOK, "", "")
}

func (e *uiEndpoint) showSignin(w http.ResponseWriter, r *http.Request, status int, username, problem string) {
	tok := randomToken()
	http.SetCookie(w, e.cookie(r, preCookie, tok, "/ui/", 600))
	d := pageData{Title: "Sign in", Error: problem, Signin: signinData{Token: tok, Username: username}}
	for _, p := range e.Providers {
		d.Signin.Providers = append(d.Signin.Providers, p.Name())
	}
	e.page(w, r, status, "signin", d)
}

// signin checks a password through the pipeline's authentication (the
// failed-login budgets apply, as at the token endpoints) and signs the
// user in.
func (e *uiEndpoint) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	pre, err := r.Cookie(preCookie)
	if err != nil || !equalTokens(pre.Value, r.PostFormValue("csrf")) {
		e.page(w, r, http.StatusForbidden, "error", pageData{Title: "Refused", Error: "The sign-in form is stale or was not sent by this page (CSRF token missing or wrong). Reload it."})
		return
	}
	user, pass := r.PostFormValue("username"), authn.Secret(r.PostFormValue("password"))
	req := grant.Request{GrantType: grant.TypePassword, Username: user, Password: pass, Tried: user, ClientIP: clientIP(r),
		Budget: e.limits.budget(r)}
	id, err := grant.Authenticate(r.Context(), grant.Password{Authn: e.Passwords}, &req)
	if err == nil {
		err = e.startSession(w, r, id)
	}
	if err != nil {
		e.signinRefused(w, r, req, err)
		return
	}
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
}

// signinRefused answers a refused sign-in in the page's words.
func (e *uiEndpoint) signinRefused(w http.ResponseWriter, r *http.Request, req grant.Request, err error) {
	g, ok := grant.AsError(err)
	switch {
	case ok && errors.Is(g.Code, grant.ErrTooManyFailures):
		w.Header().Set("Retry-After", strconv.Itoa(int(g.RetryAfter.Seconds()+0.5)))
		e.showSignin(w, r, http.StatusTooManyRequests, req.Username, "Too many failed sign-ins; wait a little and try again.")
	case ok:
		if g.Refusal == grant.FailedLogin {
			e.grants.FailedLogin(req)
		}
		e.showSignin(w, r, http.StatusUnauthorized, req.Username, g.Message)
	case unavailable(err):
		e.showSignin(w, r, http.StatusServiceUnavailable, req.Username, "The user directory does not answer; try again shortly.")
	default:
		e.rd.logInternal(r, err)
		e.showSignin(w, r, http.StatusInternalServerError, req.Username, "Something went wrong; try again.")
	}
}

func (e *uiEndpoint) provider(name string) *oidc.Provider {
	for _, p := range e.Providers {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// oidcStart sends the browser to the provider (authorization code flow
// with PKCE, state and nonce).
func (e *uiEndpoint) oidcStart(w http.ResponseWriter, r *http.Request) {
	p := e.provider(mux.Vars(r)["provider"])
	if p == nil {
		e.page(w, r, http.StatusNotFound, "error", pageData{Title: "Unknown provider", Error: "No such sign-in provider."})
		return
	}
	u, pending, err := p.Begin(r.Context())
	if err != nil {
		e.showSignin(w, r, http.StatusServiceUnavailable, "", "The sign-in provider does not answer; try again shortly.")
		return
	}
	b, _ := json.Marshal(pending) // a short-lived HttpOnly cookie; the callback must bring its state back
	http.SetCookie(w, e.cookie(r, oidcCookie, base64.RawURLEncoding.EncodeToString(b), "/ui/oidc/", 600))
	http.Redirect(w, r, u, http.StatusFound)
}

// oidcCallback finishes the sign-in: the state must be the one sent, the
// code good once, the ID token's nonce the one sent.
func (e *uiEndpoint) oidcCallback(w http.ResponseWriter, r *http.Request) {
	p := e.provider(mux.Vars(r)["provider"])
	var pending oidc.Pending
	c, err := r.Cookie(oidcCookie)
	if err == nil {
		var b []byte
		if b, err = base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			err = json.Unmarshal(b, &pending)
		}
	}
	http.SetCookie(w, e.cookie(r, oidcCookie, "", "/ui/oidc/", -1))
	if p == nil || err != nil || pending.Provider != p.Name() {
		e.showSignin(w, r, http.StatusBadRequest, "", "This sign-in was not started here, or took too long; start again.")
		return
	}
	id, err := p.Finish(r.Context(), pending, r.URL.Query().Get("state"), r.URL.Query().Get("code"))
	if err == nil {
		err = e.notLocal(r, id)
	}
	if err == nil && e.Accounts != nil {
		id, err = e.Accounts.Admit(r.Context(), id)
	}
	if err == nil {
		err = e.startSession(w, r, id)
	}
	if err != nil {
		status, msg := http.StatusUnauthorized, "Sign-in refused: "+oidcReason(err)
		if unavailable(err) {
			status, msg = http.StatusServiceUnavailable, "The sign-in provider does not answer; try again shortly."
		}
		// Aggregated per address and minute: refusals cost the caller
		// nothing else, so they must not grow the log one row each.
		e.grants.FailedLogin(grant.Request{Tried: oidc.SourcePrefix + p.Name(), ClientIP: clientIP(r)})
		e.showSignin(w, r, status, "", msg)
		return
	}
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
}

// errLocalName: an OpenID Connect user named like an account another
// backend made (a local user): signing in would take that account over.
var errLocalName = fmt.Errorf("a user of another source has this name: %w", authn.ErrBadCredentials)

// notLocal refuses an OpenID Connect identity whose name is an account
// made for another source (htpasswd, a directory, another provider): the
// provider vouches for its user, not for the local one of the same name.
func (e *uiEndpoint) notLocal(r *http.Request, id authn.Identity) error {
	if e.Accounts == nil {
		return nil
	}
	acct, err := e.Accounts.Get(r.Context(), id.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case acct.Source != id.Source:
		return errLocalName
	}
	return nil
}

// oidcReason is a refusal's reason fit for the page.
func oidcReason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	if errors.Is(err, authn.ErrDisabled) {
		return "the account is disabled"
	}
	if errors.Is(err, errLocalName) {
		return "a user of another source already has this name"
	}
	return "the provider's answer could not be verified"
}

func (e *uiEndpoint) signout(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	_ = e.Sessions.End(r.Context(), v.raw)
	http.SetCookie(w, e.cookie(r, sessionCookie, "", "/ui/", -1))
	e.record(r, "ui.signout", v.id.Name, "")
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// signoutEverywhere ends the user's refresh tokens (docker login's) and
// every session of theirs, this one included.
func (e *uiEndpoint) signoutEverywhere(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	if e.Accounts != nil {
		if _, err := e.Accounts.RevokeTokens(r.Context(), v.id.Name, store.KindRefresh|store.KindEngineRefresh, v.id.Name); err != nil &&
			!errors.Is(err, accounts.ErrNotFound) {
			e.rd.logInternal(r, err)
		}
	}
	_, _ = e.Sessions.EndAll(r.Context(), v.id.Name)
	http.SetCookie(w, e.cookie(r, sessionCookie, "", "/ui/", -1))
	e.record(r, "ui.signout_everywhere", v.id.Name, "")
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// createdToken is a token just made, shown once.
type createdToken struct {
	Token, Prefix, Role, Registry string
	Expires                       time.Time
}

// tokensData is the tokens page.
type tokensData struct {
	Tokens  []store.APIToken
	Roles   []string
	Default int
}

func (e *uiEndpoint) tokens(w http.ResponseWriter, r *http.Request) {
	e.showTokens(w, r, http.StatusOK, pageData{})
}

func (e *uiEndpoint) showTokens(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	v := viewerOf(r)
	toks, err := e.APITokens.List(r.Context(), v.id, store.Page{Limit: 200})
	if err != nil && !errors.Is(err, apitoken.ErrNoAccount) {
		e.rd.logInternal(r, err)
		d.Error = "Your tokens could not be read; try again."
	}
	roles := []string{authz.RoleRead, authz.RoleWrite}
	if v.id.Admin {
		roles = append(roles, authz.RoleAdmin)
	}
	d.Title, d.Data = "My tokens", tokensData{Tokens: toks, Roles: roles}
	e.page(w, r, status, "tokens", d)
}

func (e *uiEndpoint) createToken(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	ttl, _ := strconv.Atoi(r.PostFormValue("ttl_days"))
	raw, rec, err := e.APITokens.Create(r.Context(), v.id, r.PostFormValue("role"), ttl, r.PostFormValue("description"))
	if err != nil {
		e.tokenFailed(w, r, err)
		return
	}
	e.showTokens(w, r, http.StatusOK, pageData{Secret: &createdToken{Token: raw, Prefix: rec.Hash[:16], Role: rec.Role,
		Registry: e.Registry, Expires: rec.ExpiresAt}})
}

// tokenFailed answers a refused (400, 403, 404, 409) or failed (500,
// 503, logged) token action on the tokens page.
func (e *uiEndpoint) tokenFailed(w http.ResponseWriter, r *http.Request, err error) {
	if d, ok := tokenError(err).(DockerError); ok {
		e.showTokens(w, r, d.Status, pageData{Error: tokenProblem(err)})
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong; try again."
	if unavailable(err) {
		status, msg = http.StatusServiceUnavailable, "The store does not answer; try again shortly."
	} else {
		e.rd.logInternal(r, err)
	}
	e.showTokens(w, r, status, pageData{Error: msg})
}

// tokenProblem is an API-token refusal in the page's words.
func tokenProblem(err error) string {
	if d, ok := tokenError(err).(DockerError); ok {
		if d.Detail != "" {
			return d.Message + ": " + d.Detail
		}
		return d.Message
	}
	return "The token could not be made; try again."
}

func (e *uiEndpoint) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, err := e.APITokens.Revoke(r.Context(), viewerOf(r).id, r.PostFormValue("prefix")); err != nil {
		e.tokenFailed(w, r, err)
		return
	}
	e.showTokens(w, r, http.StatusOK, pageData{Notice: "Token " + r.PostFormValue("prefix") + " revoked."})
}

// accessData is the "what can I do" page.
type accessData struct {
	Repository string
	Granted    []string
	Rule       string // the deciding rule; "" when none matched
	Reasons    []string
}

// access explains, with the ACL's explain engine, what the viewer may do
// on a repository.
func (e *uiEndpoint) access(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	repo := strings.TrimSpace(r.URL.Query().Get("repository"))
	d := accessData{Repository: repo}
	status := http.StatusOK
	if repo != "" {
		s, err := scope.Parse("repository:" + repo + ":pull,push,delete")
		if err != nil {
			status = http.StatusBadRequest
			e.page(w, r, status, "access", pageData{Title: "What can I do?", Error: "Not a repository name: " + repo, Data: d})
			return
		}
		acl := e.ACL.Load()
		x := acl.Explain(authz.Request{Account: v.id.Name, Role: v.id.Role, Groups: v.id.Groups(), Labels: v.id.Labels(),
			Claims: v.id.Claims(), ClientIP: clientIP(r)}, s)
		d.Granted = x.Granted
		if x.Rule >= 0 {
			d.Rule = fmt.Sprintf("rule %d: %s", x.Rule, acl.Rules()[x.Rule])
		}
		for _, a := range x.Actions {
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s: %s", a.Action, a.Reason))
		}
	}
	e.page(w, r, status, "access", pageData{Title: "What can I do?", Data: d})
}
