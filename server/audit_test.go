package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/server"
)

// TestFailedLoginsAreAggregatedOtherDenialsAreNot: a wrong password, an
// unknown user, an invalid API token and an invalid refresh token go to
// the audit log's per-address aggregation (Auditor.FailedLogin); a
// malformed credential and a disabled account stay one token.denied row
// each.
func TestFailedLoginsAreAggregatedOtherDenialsAreNot(t *testing.T) {
	e := newEnv(t)
	log := &audittest.Recorder{}
	svc := e.grantService(exampleACL(t))
	svc.Audit = log
	tokens := &apitoken.Tokens{Store: e.store}
	e.serve(t, server.New(server.Options{Grant: svc, Authn: e.accounts.Authenticator(authn.Chain{tokens, e.auth}),
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Realm: issuer, APITokens: tokens, Passwords: e.accounts.Authenticator(e.auth)}))
	if _, err := e.accounts.SetEnabled(context.Background(), "bob", false, "admin"); err != nil {
		t.Fatal(err)
	}

	q := "service=" + service
	failures := []struct {
		name string
		send func() response
		want int
	}{
		{"wrong password", func() response { return e.get(t, q, basicWith("alice", "wrong")) }, http.StatusUnauthorized},
		{"unknown user", func() response { return e.get(t, q, basicWith("mallory", "x")) }, http.StatusUnauthorized},
		{"unknown API token", func() response { return e.get(t, q, basicWith("token", apitoken.Generate())) }, http.StatusUnauthorized},
		{"Bearer that is no API token", func() response { return e.get(t, q, bearer("x")) }, http.StatusUnauthorized},
		{"password grant, wrong password", func() response {
			f := passwordForm("admin", "docker", "")
			f.Set("password", "wrong")
			return e.post(t, f)
		}, http.StatusBadRequest},
		{"refresh grant, unknown token", func() response {
			return e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"tgr_unknown"}, "client_id": {"docker"},
				"service": {service}})
		}, http.StatusBadRequest},
		{"malformed credentials", func() response { return e.get(t, q, header("Foo bar")) }, http.StatusUnauthorized},
		{"disabled account", func() response { return e.get(t, q, basic("bob")) }, http.StatusUnauthorized},
	}
	for _, f := range failures {
		if r := f.send(); r.status != f.want {
			t.Fatalf("%s: status %d %s, want %d", f.name, r.status, r.body, f.want)
		}
	}

	var tried []string
	for _, ev := range log.FailedLogins() {
		if ev.ClientIP != "127.0.0.1" {
			t.Errorf("failed login %+v: client address %q, want 127.0.0.1", ev, ev.ClientIP)
		}
		tried = append(tried, ev.Subject)
	}
	if want := []string{"alice", "mallory", "token", "token", "admin", ""}; !slices.Equal(tried, want) {
		t.Errorf("failed logins under %q, want %q", tried, want)
	}
	var rows []string
	for _, ev := range log.Events() {
		if ev.Kind != audit.TokenDenied {
			t.Errorf("unexpected event %+v", ev)
			continue
		}
		rows = append(rows, ev.Subject+": "+ev.Detail)
	}
	want := []string{": malformed credentials: use HTTP Basic, or Bearer with an API token", "bob: account is disabled"}
	if !slices.Equal(rows, want) {
		t.Errorf("token.denied rows %q, want %q", rows, want)
	}
}
