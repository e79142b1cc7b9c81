package interop_test

// What the operator's commands end, seen through the real registry with
// go-containerregistry as the client: `tollgate users passwd` ends the
// user's identity (refresh) tokens and leaves API tokens alone; `tollgate
// users remove` ends everything, and adding the name again revives nothing.

import (
	"errors"
	"net/http"
	"testing"
	"time"

	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
)

// revocationBound is how soon a credential ended with `tollgate users`
// must be refused: the command ends it in the store itself.
const revocationBound = 2 * time.Second

// reloadBound is how long the server's htpasswd watcher may take to read
// the file the command wrote (its debounce is 100 ms; bcrypt under -race on
// a busy machine is slow). Retries are 100 ms apart, so that a new
// password tried before the watcher has read it does not spend alice's
// failure budget (10 in a row).
const reloadBound = 10 * time.Second

func TestEndToEndRevocation(t *testing.T) {
	env := newE2E(t)
	ctx := t.Context()
	identity := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{IdentityToken: env.IdentityToken(t, "alice", e2etest.Users["alice"])})
	api, _ := e2etest.CreateAPIToken(t, env.HTTP, env.Base(), "alice", "write")
	apiAuth := &ggcrauthn.Basic{Username: "token", Password: api}
	env.mustPush(t, ctx, "alice/rev:identity", identity)
	env.mustPush(t, ctx, "alice/rev:api", apiAuth)

	const newPassword = "alice-second-secret"
	t.Run("a new password ends the identity token, not the API token", func(t *testing.T) {
		runUsersCLI(t, env, newPassword+"\n", "passwd", "alice", "--password-stdin")
		err := env.refusedWithin(t, revocationBound, func() error { _, err := env.push(ctx, "alice/rev:identity2", identity); return err })
		// Refused by Tollgate at the token exchange (RFC 6749 §5.2: 400 invalid_grant).
		wantTransportError(t, err, http.StatusBadRequest, "", http.MethodPost, env.Host, "/oauth2/token")
		if _, err := env.push(ctx, "alice/rev:api2", apiAuth); err != nil {
			t.Errorf("the API token stopped pushing after a new password: %v", err)
		}
		// Once the server's watcher has read the file, the new password
		// pushes and the old one is refused.
		env.acceptedWithin(t, reloadBound, func() error {
			_, err := env.push(ctx, "alice/rev:new-password", &ggcrauthn.Basic{Username: "alice", Password: newPassword})
			return err
		})
		_, err = env.push(ctx, "alice/rev:old-password", basic("alice"))
		wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
	})

	t.Run("removing the user ends the API token and the identity token; adding the name again revives nothing", func(t *testing.T) {
		// An identity token of the current password, working until the removal.
		identity := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{IdentityToken: env.IdentityToken(t, "alice", newPassword)})
		env.mustPush(t, ctx, "alice/rev:identity-current", identity)
		runUsersCLI(t, env, "", "remove", "alice")
		err := env.refusedWithin(t, revocationBound, func() error { _, err := env.push(ctx, "alice/rev:api3", apiAuth); return err })
		wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
		_, err = env.push(ctx, "alice/rev:identity-removed", identity)
		wantTransportError(t, err, http.StatusBadRequest, "", http.MethodPost, env.Host, "/oauth2/token")

		const againPassword = "alice-third-secret"
		runUsersCLI(t, env, againPassword+"\n", "add", "alice", "--password-stdin")
		again := &ggcrauthn.Basic{Username: "alice", Password: againPassword}
		// Once the server knows the new alice, her password pushes...
		env.acceptedWithin(t, reloadBound, func() error { _, err := env.push(ctx, "alice/rev:again", again); return err })
		// ...and what the old alice held stays refused.
		_, err = env.push(ctx, "alice/rev:api4", apiAuth)
		wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
		_, err = env.push(ctx, "alice/rev:identity3", identity)
		wantTransportError(t, err, http.StatusBadRequest, "", http.MethodPost, env.Host, "/oauth2/token")
	})
}

// runUsersCLI runs `tollgate users ARGS --config` on the environment's
// configuration, as an operator on the server's host would.
func runUsersCLI(t *testing.T, env *e2eEnv, stdin string, args ...string) {
	t.Helper()
	args = append(append([]string{"users"}, args...), "--config", env.configPath)
	out, err := runCLI(t, stdin, args...)
	if err != nil {
		t.Fatalf("tollgate %v: %v\n%s", args, err, out)
	}
	t.Logf("tollgate %v: %s", args, out)
}

// refusedWithin retries do until it fails, for at most bound, and returns
// its error; it logs how long the refusal took.
func (e *e2eEnv) refusedWithin(t *testing.T, bound time.Duration, do func() error) error {
	t.Helper()
	start := time.Now()
	for {
		err := do()
		if err != nil {
			t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
			return err
		}
		if time.Since(start) > bound {
			t.Fatalf("still accepted %s later", bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acceptedWithin retries do until it succeeds, for at most bound. Only
// refusals by Tollgate (a user it does not know yet) are retried.
func (e *e2eEnv) acceptedWithin(t *testing.T, bound time.Duration, do func() error) {
	t.Helper()
	start := time.Now()
	for {
		err := do()
		if err == nil {
			return
		}
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.Request == nil || terr.Request.URL.Host != e.Host || time.Since(start) > bound {
			t.Fatalf("not accepted after %s: %v", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
