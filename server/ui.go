package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/session"
	"github.com/tollgate/tollgate/pkg/store"
)

//go:embed ui
var uiFiles embed.FS

// UI is what the web UI at /ui/ needs (ui_pages.go); nil fields turn
// their pages off.
type UI struct {
	Sessions  *session.Manager
	Passwords authn.Authenticator // the password users of every backend (not API tokens)
	Accounts  *accounts.Service
	APITokens *apitoken.Tokens
	ACL       *authz.Holder
	Audit     store.Audit                 // the audit log, for the admin page
	Keys      func() *keys.Ring           // the ring in force
	Rotate    func(context.Context) error // rotates the ring; nil for a static key
	Providers []*oidc.Provider            // "Sign in with …"
	// Registry is the host clients log in to, for the ready-to-paste
	// docker login / crane / oras lines.
	Registry string
	// SecureCookies marks every cookie Secure (server.public_url is
	// https); otherwise only plain HTTP from and to loopback goes without.
	SecureCookies bool
	// ACLTests runs the configured acl test table against the ACL in
	// force and reports it as `tollgate acl test` prints it; nil: none.
	ACLTests func() string
}

// uiStatic are the files /ui/static/ serves, by name, with their types;
// anything else (a directory listing) is not found.
var uiStatic = map[string]string{
	"ui.css": "text/css; charset=utf-8",
	"ui.js":  "text/javascript; charset=utf-8",
}

func serveUIStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ui/static/")
	typ, ok := uiStatic[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(uiFiles, "ui/static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}

// Cookies of the UI.
const (
	sessionCookie = "tg_session"
	preCookie     = "tg_presignin" // the sign-in form's CSRF token, before a session exists
	oidcCookie    = "tg_oidc"      // a pending OpenID Connect sign-in
)

// uiEndpoint serves /ui/.
type uiEndpoint struct {
	UI
	pages  *template.Template
	static http.Handler
	audit  grant.Auditor
	grants *grant.Service
	rd     renderer
	limits *limiter
	logger *slog.Logger
}

func newUIEndpoint(u UI, g *grant.Service, rd renderer, limits *limiter, logger *slog.Logger) *uiEndpoint {
	pages := template.Must(template.New("").Funcs(uiFuncs).ParseFS(uiFiles, "ui/*.html"))
	return &uiEndpoint{UI: u, pages: pages, static: http.HandlerFunc(serveUIStatic),
		audit: g.Audit, grants: g, rd: rd, limits: limits, logger: logger}
}

// Mount registers the routes.
func (e *uiEndpoint) Mount(r *mux.Router) {
	r.Handle("/", http.RedirectHandler("/ui/", http.StatusFound)).Methods(http.MethodGet)
	r.PathPrefix("/ui/static/").Handler(e.secured(e.static)).Methods(http.MethodGet)
	get := func(path string, h http.HandlerFunc) { r.Handle(path, e.secured(h)).Methods(http.MethodGet) }
	post := func(path string, h http.HandlerFunc) { r.Handle(path, e.secured(h)).Methods(http.MethodPost) }
	get("/ui/", e.home)
	get("/ui/signin", e.signinForm)
	post("/ui/signin", e.signin)
	get("/ui/oidc/{provider}/start", e.oidcStart)
	get("/ui/oidc/{provider}/callback", e.oidcCallback)
	post("/ui/signout", e.signedIn(e.signout))
	post("/ui/signout-everywhere", e.signedIn(e.signoutEverywhere))
	get("/ui/tokens", e.signedIn(e.tokens))
	post("/ui/tokens", e.signedIn(e.createToken))
	post("/ui/tokens/revoke", e.signedIn(e.revokeToken))
	get("/ui/access", e.signedIn(e.access))
	get("/ui/admin/users", e.admin(e.adminUsers))
	post("/ui/admin/users/{name}/{action:disable|enable|revoke}", e.admin(e.adminUserAction))
	get("/ui/admin/tokens", e.admin(e.adminTokens))
	post("/ui/admin/tokens/revoke", e.admin(e.adminRevokeToken))
	get("/ui/admin/audit", e.admin(e.adminAudit))
	get("/ui/admin/keys", e.admin(e.adminKeys))
	post("/ui/admin/keys/rotate", e.admin(e.adminRotate))
	get("/ui/admin/acl", e.admin(e.adminACL))
}

// contentSecurityPolicy allows nothing but this origin's own files: no
// inline script or style, no third party, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secured sets the security headers of every UI answer.
func (e *uiEndpoint) secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// viewer is the signed-in user of a request.
type viewer struct {
	id   authn.Identity
	sess store.Session
	raw  string // the session ID (the cookie)
}

type viewerKey struct{}

// signedIn runs next for a signed-in user whose account still admits
// them (a disabled or removed user is signed out), checking the CSRF
// token of every POST; anyone else goes to the sign-in page.
func (e *uiEndpoint) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := e.viewer(r)
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
				return
			}
			e.page(w, r, http.StatusUnauthorized, "error", pageData{Title: "Signed out", Error: "Your session has ended; sign in again."})
			return
		}
		if r.Method == http.MethodPost && !session.CheckCSRF(v.sess, r.PostFormValue("csrf")) {
			e.page(w, r, http.StatusForbidden, "error", pageData{Title: "Refused", Error: "The form is stale or was not sent by this page (CSRF token missing or wrong)."})
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	}
}

// admin is signedIn for administrators only.
func (e *uiEndpoint) admin(next http.HandlerFunc) http.HandlerFunc {
	return e.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if !viewerOf(r).id.ActsAsAdmin() {
			e.page(w, r, http.StatusForbidden, "error", pageData{Title: "Administrators only", Error: "This page is for administrators."})
			return
		}
		next(w, r)
	})
}

func viewerOf(r *http.Request) viewer {
	v, _ := r.Context().Value(viewerKey{}).(viewer)
	return v
}

// viewer reads the session of r and admits its user again.
func (e *uiEndpoint) viewer(r *http.Request) (viewer, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || e.Sessions == nil {
		return viewer{}, errors.New("no session")
	}
	s, err := e.Sessions.Get(r.Context(), c.Value)
	if err != nil {
		return viewer{}, err
	}
	id := authn.Identity{Kind: authn.KindUser, Name: s.Subject, AccountID: s.AccountID, Source: s.Source}
	if len(s.Groups) > 0 {
		id.Attrs = &authn.Attributes{Groups: s.Groups}
	}
	if e.Accounts != nil && s.AccountID != "" { // revoke-tokens since sign-in ends it too
		if id, err = e.Accounts.AdmitToken(r.Context(), id, s.CreatedAt); err != nil {
			_ = e.Sessions.End(r.Context(), c.Value)
			return viewer{}, err
		}
	}
	return viewer{id: id, sess: s, raw: c.Value}, nil
}

// startSession signs id in: a new session (never the one the browser
// had: rotated on sign-in) and its cookie.
func (e *uiEndpoint) startSession(w http.ResponseWriter, r *http.Request, id authn.Identity) error {
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = e.Sessions.End(r.Context(), old.Value)
	}
	raw, _, err := e.Sessions.Start(r.Context(), session.Who{Subject: id.Name, AccountID: id.AccountID, Source: id.Source,
		Admin: id.ActsAsAdmin(), Groups: id.Groups()})
	if err != nil {
		return err
	}
	http.SetCookie(w, e.cookie(r, sessionCookie, raw, "/ui/", 0))
	e.record(r, "ui.signin", id.Name, "source="+id.Source)
	return nil
}

// cookie is an HttpOnly, SameSite=Lax cookie, Secure unless the UI is
// reached over plain HTTP on loopback (development).
func (e *uiEndpoint) cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: e.SecureCookies || !plainLoopback(r), SameSite: http.SameSiteLaxMode}
}

// plainLoopback reports whether r came over plain HTTP from loopback to a
// loopback host: the one case (development) where a Secure cookie would
// not come back. A TLS-terminating proxy on the same host is configured
// with an https server.public_url (SecureCookies).
func plainLoopback(r *http.Request) bool {
	if r.TLS != nil || !peerAddr(r.RemoteAddr).IsLoopback() {
		return false // not plain, or not from this host (a proxy's Host proves nothing)
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// record audits a UI action by its actor.
func (e *uiEndpoint) record(r *http.Request, kind, actor, detail string) {
	if e.audit == nil {
		return
	}
	ev := store.AuditEvent{Kind: kind, Subject: actor, Detail: "ui: " + detail}
	if ip := clientIP(r); ip.IsValid() {
		ev.ClientIP = ip.String()
	}
	e.audit.Record(ev)
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// pageData is what every page template reads.
type pageData struct {
	Title  string
	Viewer *authn.Identity
	CSRF   string
	Error  string
	Notice string
	Data   any
	Nav    string
	Docs   string
	Now    time.Time
	Signin signinData
	Secret *createdToken
}

// page renders name in the layout.
func (e *uiEndpoint) page(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if v := viewerOf(r); v.id.Name != "" {
		d.Viewer, d.CSRF = &v.id, v.sess.CSRF
	}
	d.Nav, d.Docs, d.Now = name, "/api-docs/", time.Now()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := e.pages.ExecuteTemplate(w, name+".html", d); err != nil {
		e.logger.ErrorContext(r.Context(), "render ui page", "page", name, "error", err)
	}
}

var uiFuncs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"join":       strings.Join,
	"pathescape": url.PathEscape,
	"list":       func(items ...string) []string { return items },
}
