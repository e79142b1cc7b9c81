package interop_test

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
)

// TestEndToEndAPITokens: a real client pushes and pulls through the real
// registry with API tokens as passwords (docker login -u token -p tg_…).
func TestEndToEndAPITokens(t *testing.T) {
	env := newE2E(t)
	ctx := t.Context()
	base := "http://" + env.Host
	write, writePrefix := e2etest.CreateAPIToken(t, env.HTTP, base, "alice", "write")
	read, _ := e2etest.CreateAPIToken(t, env.HTTP, base, "alice", "read")
	asToken := func(tok string) authn.Authenticator { return &authn.Basic{Username: apiTokenUser, Password: tok} }

	pushed := env.mustPush(t, ctx, "alice/ci:v1", asToken(write))
	if got, err := env.pull(ctx, "alice/ci:v1", asToken(read)); err != nil || got != pushed {
		t.Fatalf("pull with the read token = %s, %v; pushed %s", got, err, pushed)
	}
	if got, err := env.pull(ctx, "alice/ci:v1", &authn.Basic{Username: "alice", Password: read}); err != nil || got != pushed {
		t.Errorf("pull with the read token under the owner's name = %s, %v", got, err)
	}

	// The read token's role caps alice's push right.
	_, err := env.push(ctx, "alice/ci:v2", asToken(read))
	wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodPost, env.registryHost, "/v2/alice/ci/blobs/uploads/")

	// The owner's ACL caps the write token: bob's namespace stays closed
	// (the token grants nothing there, so ggcr's first request, a HEAD of
	// the manifest, is refused).
	_, err = env.push(ctx, "bob/ci:v1", asToken(write))
	wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/bob/ci/manifests/v1")

	// Revoked (with itself as Bearer): the very next token request fails.
	if status, m := e2etest.APITokenCall(t, env.HTTP, base, "/api/tokens/revoke", map[string]any{"hash_prefix": writePrefix}, write); status != http.StatusOK {
		t.Fatalf("revoke: status %d, body %v", status, m)
	}
	_, err = env.push(ctx, "alice/ci:v3", asToken(write))
	terr := wantTransportError(t, err, http.StatusUnauthorized, transport.UnauthorizedErrorCode, http.MethodGet, env.Host, "/oauth2/token")
	t.Logf("Tollgate's answer to a revoked token: %d %+v", terr.StatusCode, terr.Errors)
	// The read token is untouched.
	if _, err := env.pull(ctx, "alice/ci:v1", asToken(read)); err != nil {
		t.Errorf("the read token stopped working with the write token: %v", err)
	}
}
