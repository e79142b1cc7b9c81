package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// adminUsers lists the accounts, to disable, enable or end what a user
// holds.
func (e *uiEndpoint) adminUsers(w http.ResponseWriter, r *http.Request) {
	e.showUsers(w, r, http.StatusOK, pageData{})
}

func (e *uiEndpoint) showUsers(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	all, err := e.Accounts.Store.ListAccounts(r.Context())
	if err != nil {
		e.rd.logInternal(r, err)
		d.Error = "The accounts could not be read; try again."
	}
	d.Title, d.Data = "Users", all
	e.page(w, r, status, "users", d)
}

// adminUserAction disables, enables or revokes everything of a user; the
// accounts service audits it with the administrator as the actor.
func (e *uiEndpoint) adminUserAction(w http.ResponseWriter, r *http.Request) {
	v, vars := viewerOf(r), mux.Vars(r)
	name, action := vars["name"], vars["action"]
	_, err := e.Accounts.Get(r.Context(), name) // only the accounts the page lists: no new one is made
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.showUsers(w, r, http.StatusNotFound, pageData{Error: "No such user: " + name})
		return
	case err != nil:
		e.rd.logInternal(r, err)
		e.showUsers(w, r, http.StatusInternalServerError, pageData{Error: "The change failed; try again."})
		return
	}
	switch action {
	case "disable", "enable":
		_, err = e.Accounts.SetEnabled(r.Context(), name, action == "enable", v.id.Name)
	default:
		_, err = e.Accounts.RevokeTokens(r.Context(), name, store.AllKinds, v.id.Name)
		if err == nil && e.Sessions != nil {
			_, err = e.Sessions.EndAll(r.Context(), name)
		}
	}
	if action == "disable" && err == nil && e.Sessions != nil {
		_, err = e.Sessions.EndAll(r.Context(), name)
	}
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		e.showUsers(w, r, http.StatusNotFound, pageData{Error: "No such user: " + name})
	case err != nil:
		e.rd.logInternal(r, err)
		e.showUsers(w, r, http.StatusInternalServerError, pageData{Error: "The change failed; try again."})
	default:
		e.showUsers(w, r, http.StatusOK, pageData{Notice: "User " + name + ": " + action + " done."})
	}
}

// adminTokensShown bounds the tokens the admin page reads and filters.
const adminTokensShown = 1000

// tokenFilter is the admin tokens page's filter.
type tokenFilter struct {
	Owner, Role string
	Live        bool
	Tokens      []store.APIToken
}

func (e *uiEndpoint) adminTokens(w http.ResponseWriter, r *http.Request) {
	e.showAllTokens(w, r, http.StatusOK, pageData{})
}

func (e *uiEndpoint) showAllTokens(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	q := r.URL.Query()
	f := tokenFilter{Owner: q.Get("owner"), Role: q.Get("role"), Live: q.Get("live") == "1"}
	all, err := e.APITokens.ListAll(r.Context(), store.Page{Limit: adminTokensShown + 1})
	if err != nil {
		e.rd.logInternal(r, err)
		d.Error = "The tokens could not be read; try again."
	}
	if len(all) > adminTokensShown {
		all = all[:adminTokensShown]
		d.Notice = fmt.Sprintf("Only the %d oldest tokens are filtered here; use POST /api/tokens/list (paged) for the rest.", adminTokensShown)
	}
	now := time.Now()
	for _, t := range all {
		if (f.Owner == "" || t.Owner == f.Owner) && (f.Role == "" || t.Role == f.Role) && (!f.Live || t.Usable(now)) {
			f.Tokens = append(f.Tokens, t)
		}
	}
	d.Title, d.Data = "All API tokens", f
	e.page(w, r, status, "admin_tokens", d)
}

func (e *uiEndpoint) adminRevokeToken(w http.ResponseWriter, r *http.Request) {
	if _, err := e.APITokens.Revoke(r.Context(), viewerOf(r).id, r.PostFormValue("prefix")); err != nil {
		e.showAllTokens(w, r, http.StatusBadRequest, pageData{Error: tokenProblem(err)})
		return
	}
	e.showAllTokens(w, r, http.StatusOK, pageData{Notice: "Token " + r.PostFormValue("prefix") + " revoked."})
}

// auditPage is a page of the audit log, filtered.
type auditPage struct {
	Subject, Kind, Since string
	Events               []store.AuditEvent
	Next                 int64 // the ID to continue after; 0 at the end
}

// auditPageSize is how many events a page shows; a page reads at most
// auditMaxBatches batches of 500 events to fill it (a filter that matches
// little pages through the log rather than reading all of it).
const (
	auditPageSize   = 100
	auditMaxBatches = 10
)

func (e *uiEndpoint) adminAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := auditPage{Subject: q.Get("subject"), Kind: q.Get("kind"), Since: q.Get("since")}
	since := time.Now().Add(-24 * time.Hour)
	if p.Since != "" {
		if t, err := time.Parse("2006-01-02T15:04", p.Since); err == nil {
			since = t
		} else if d, err := time.ParseDuration(p.Since); err == nil {
			since = time.Now().Add(-d)
		}
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	d := pageData{Title: "Audit log"}
	for batch := 0; len(p.Events) < auditPageSize; batch++ {
		if batch == auditMaxBatches { // bounded work per page: go on from here
			p.Next = after
			break
		}
		evs, err := e.Audit.ListAudit(r.Context(), after, since, 500)
		if err != nil {
			e.rd.logInternal(r, err)
			d.Error = "The audit log could not be read; try again."
			break
		}
		for _, ev := range evs {
			after = ev.ID
			if (p.Subject == "" || ev.Subject == p.Subject) && (p.Kind == "" || ev.Kind == p.Kind) {
				p.Events = append(p.Events, ev)
				if len(p.Events) == auditPageSize {
					p.Next = ev.ID
					break
				}
			}
		}
		if len(evs) < 500 {
			break
		}
	}
	d.Data = p
	e.page(w, r, http.StatusOK, "audit", d)
}

// keysData is the signing keys page.
type keysData struct {
	Entries   []keys.Entry
	CanRotate bool
}

func (e *uiEndpoint) adminKeys(w http.ResponseWriter, r *http.Request) {
	e.showKeys(w, r, http.StatusOK, pageData{})
}

func (e *uiEndpoint) showKeys(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	var kd keysData
	if e.Keys != nil {
		if ring := e.Keys(); ring != nil {
			kd.Entries = ring.Entries()
		}
	}
	kd.CanRotate = e.Rotate != nil
	d.Title, d.Data = "Signing keys", kd
	e.page(w, r, status, "keys", d)
}

// adminRotate publishes a new key, after the administrator confirmed.
func (e *uiEndpoint) adminRotate(w http.ResponseWriter, r *http.Request) {
	if e.Rotate == nil || r.PostFormValue("confirm") != "yes" {
		e.showKeys(w, r, http.StatusBadRequest, pageData{Error: "Tick the confirmation to rotate (a static key cannot be rotated here)."})
		return
	}
	if err := e.Rotate(r.Context()); err != nil {
		e.rd.logInternal(r, err)
		e.showKeys(w, r, http.StatusInternalServerError, pageData{Error: "The rotation failed; see the log."})
		return
	}
	e.record(r, "ui.key_rotated", viewerOf(r).id.Name, "")
	e.showKeys(w, r, http.StatusOK, pageData{Notice: "A new key is published; it signs after keys.ring.prepublish."})
}

// aclData is the ACL page: the rules in force and the report of their
// test table.
type aclData struct {
	Rules  []authz.Rule
	Report string
}

// adminACL shows the ACL in force, read-only, with its tests' results.
func (e *uiEndpoint) adminACL(w http.ResponseWriter, r *http.Request) {
	var d aclData
	if e.ACL != nil {
		d.Rules = e.ACL.Load().Rules()
	}
	if e.ACLTests != nil {
		d.Report = e.ACLTests()
	}
	e.page(w, r, http.StatusOK, "acl", pageData{Title: "Access control list", Data: d})
}
