package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

var errBackend = errors.New("backend failure")

// echoAuthn accepts any user whose password is "ok", under the name given,
// and fails every other with an internal error that quotes the name, as
// htpasswd's errors do.
type echoAuthn struct{}

func (echoAuthn) Authenticate(_ context.Context, user string, secret authn.Secret) (authn.Identity, error) {
	if secret == "ok" {
		return authn.Identity{Name: user}, nil
	}
	return authn.Identity{}, fmt.Errorf("backend: user %q: checking hash: %w", user, errBackend)
}

// A name with the shape of a secret never reaches a log line, even where
// the server logs names it trusts: the access log's subject, "access
// reduced", and an internal error quoting the name. (The audit of refused
// requests is checked end to end in cmd/tollgate.)
func TestSecretShapedNamesAreRedactedInLogs(t *testing.T) {
	key, err := keys.Generate(keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	h := server.New(server.Options{
		Grant:  &grant.Service{Authz: exampleACL(t), Minter: &token.Minter{Issuer: issuer, TTL: ttl, Signer: key}, Services: []string{service}},
		Authn:  echoAuthn{},
		Logger: debugLogger(logs),
		Realm:  issuer,
	})
	tok := apitoken.Generate()
	for _, tt := range []struct {
		password string
		want     int
	}{
		{"ok", http.StatusOK},                     // granted less than asked: "access reduced"
		{"wrong", http.StatusInternalServerError}, // the backend's error quotes the name
	} {
		req := httptest.NewRequest(http.MethodGet, endpoint+"?service="+service+"&scope=repository:bob/x:pull", nil)
		req.SetBasicAuth(tok, tt.password)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Fatalf("password %q: status %d, want %d; body %s", tt.password, rec.Code, tt.want, rec.Body)
		}
	}
	text := logs.String()
	if strings.Contains(text, tok) {
		t.Errorf("a token sent as the user name is in the logs:\n%s", text)
	}
	for _, want := range []string{`"msg":"access reduced"`, `"subject":"(redacted)"`, `"msg":"internal error"`, `user \"(redacted)\": checking hash`} {
		if !strings.Contains(text, want) {
			t.Errorf("logs lack %s:\n%s", want, text)
		}
	}
}
