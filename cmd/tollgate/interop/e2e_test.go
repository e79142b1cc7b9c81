package interop_test

// End-to-end tests with real peers: Tollgate, the binary, serving a YAML
// config in a child process, the CNCF registry (distribution v3) trusting its
// certificate, and go-containerregistry (crane's library) as the client.
// Everything listens and dials on loopback only.

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/go-jose/go-jose/v4"
	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
)

// The registry's answer to a token that lacks the needed access, and
// Tollgate's answer to bad credentials: both 401 UNAUTHORIZED, told apart by
// the host and path of the failing request.
const (
	registryDenied = transport.UnauthorizedErrorCode
	tollgateDenied = transport.UnauthorizedErrorCode
)

// e2eFixture is what TestEndToEnd pushes before its subtests run.
type e2eFixture struct {
	sharedApp v1.Hash // shared/app:v1, pushed by admin
	publicX   v1.Hash // public/x:v1, pushed by admin
	aliceApp  v1.Hash // alice/app:v1, pushed by alice
}

// TestEndToEnd shares one environment and fixture across its subtests, which
// run in order, none in parallel: "bad credentials" relies on alice having
// signed in before (so the credential cache is warm), and "everything on
// loopback" inspects every dial the others made.
func TestEndToEnd(t *testing.T) {
	defaultUsed := forbidDefaultTransport(t)
	env := newE2E(t)
	ctx := t.Context()
	fx := e2eFixture{
		sharedApp: env.mustPush(t, ctx, "shared/app:v1", basic("admin")),
		publicX:   env.mustPush(t, ctx, "public/x:v1", basic("admin")),
		aliceApp:  env.mustPush(t, ctx, "alice/app:v1", basic("alice")),
	}

	t.Run("owners push and pull back", func(t *testing.T) {
		for _, c := range []struct {
			user, repoTag string
			want          v1.Hash
		}{
			{"admin", "shared/app:v1", fx.sharedApp},
			{"alice", "alice/app:v1", fx.aliceApp},
		} {
			got, err := env.pull(ctx, c.repoTag, basic(c.user))
			if err != nil {
				t.Fatalf("%s pulls %s: %v", c.user, c.repoTag, err)
			}
			if got != c.want {
				t.Errorf("%s pulled %s with digest %s, pushed %s", c.user, c.repoTag, got, c.want)
			}
		}
		v2 := env.mustPush(t, ctx, "alice/app:v2", basic("alice"))
		if got, err := env.pull(ctx, "alice/app:v2", basic("alice")); err != nil || got != v2 {
			t.Errorf("alice pulls alice/app:v2 = %s, %v; pushed %s", got, err, v2)
		}
		tags, err := remote.List(env.ref(t, "alice/app").Context(), env.opts(ctx, basic("alice"))...)
		if err != nil {
			t.Fatalf("alice lists alice/app: %v", err)
		}
		if want := []string{"v1", "v2"}; !slices.Equal(tags, want) {
			t.Errorf("tags of alice/app = %q, want %q", tags, want)
		}
	})

	t.Run("pull-only repository refuses push", func(t *testing.T) {
		got, err := env.pull(ctx, "shared/app:v1", basic("alice"))
		if err != nil {
			t.Fatalf("alice pulls shared/app: %v", err)
		}
		if got != fx.sharedApp {
			t.Errorf("alice pulled shared/app digest %s, admin pushed %s", got, fx.sharedApp)
		}
		_, err = env.push(ctx, "shared/app:alice", basic("alice"))
		terr := wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodPost, env.registryHost, "/v2/shared/app/blobs/uploads/")
		t.Logf("registry's answer to alice's push to shared/app: %s %s → %d %+v", terr.Request.Method, terr.Request.URL.Path, terr.StatusCode, terr.Errors)
		tags, err := remote.List(env.ref(t, "shared/app").Context(), env.opts(ctx, basic("admin"))...)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"v1"}; !slices.Equal(tags, want) {
			t.Errorf("tags of shared/app after refused push = %q, want %q", tags, want)
		}
	})

	t.Run("copy from shared into own namespace", func(t *testing.T) {
		// crane cp: ggcr mounts the layers across repositories, so one token
		// request carries two scopes (push,pull on the target, pull on the
		// source).
		src, err := remote.Image(env.ref(t, "shared/app:v1"), env.opts(ctx, basic("alice"))...)
		if err != nil {
			t.Fatalf("alice reads shared/app: %v", err)
		}
		if err := remote.Write(env.ref(t, "alice/copy:v1"), src, env.opts(ctx, basic("alice"))...); err != nil {
			t.Fatalf("alice copies shared/app to alice/copy: %v", err)
		}
		if got, err := env.pull(ctx, "alice/copy:v1", basic("alice")); err != nil || got != fx.sharedApp {
			t.Errorf("alice/copy:v1 = %s, %v; want %s", got, err, fx.sharedApp)
		}
		// bob may not read alice's repository, so he cannot copy from it.
		_, err = remote.Image(env.ref(t, "alice/app:v1"), env.opts(ctx, basic("bob"))...)
		wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodGet, env.registryHost, "/v2/alice/app/manifests/v1")
	})

	t.Run("anonymous pulls public only", func(t *testing.T) {
		got, err := env.pull(ctx, "public/x:v1", ggcrauthn.Anonymous)
		if err != nil {
			t.Fatalf("anonymous pulls public/x: %v", err)
		}
		if got != fx.publicX {
			t.Errorf("anonymous pulled public/x digest %s, admin pushed %s", got, fx.publicX)
		}
		_, err = env.pull(ctx, "alice/app:v1", ggcrauthn.Anonymous)
		terr := wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodGet, env.registryHost, "/v2/alice/app/manifests/v1")
		t.Logf("registry's answer to anonymous pull of alice/app: %s %s → %d %+v", terr.Request.Method, terr.Request.URL.Path, terr.StatusCode, terr.Errors)
		_, err = env.push(ctx, "public/x:anon", ggcrauthn.Anonymous)
		wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodPost, env.registryHost, "/v2/public/x/blobs/uploads/")
	})

	t.Run("bad credentials are refused by tollgate", func(t *testing.T) {
		wrong := &ggcrauthn.Basic{Username: "alice", Password: "not-" + e2etest.Users["alice"]}
		_, err := env.push(ctx, "alice/app:wrong", wrong)
		// alice signed in with her right password moments ago: a credential
		// cache must not let the wrong one ride on that.
		pushErr := wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
		t.Logf("tollgate's answer to a wrong password: %v", err)
		_, err = env.pull(ctx, "alice/app:v1", wrong)
		wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
		// An unknown user gets the same answer: nothing tells the two apart.
		_, err = env.pull(ctx, "alice/app:v1", &ggcrauthn.Basic{Username: "mallory", Password: "x"})
		unknownErr := wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.Host, "/oauth2/token")
		if len(pushErr.Errors) == 1 && len(unknownErr.Errors) == 1 && pushErr.Errors[0].Message != unknownErr.Errors[0].Message {
			t.Errorf("wrong password says %q, unknown user says %q; want the same", pushErr.Errors[0].Message, unknownErr.Errors[0].Message)
		}
	})

	t.Run("catalog for admin only", func(t *testing.T) {
		reg := env.ref(t, "x/y").Context().Registry
		repos, err := remote.Catalog(ctx, reg, env.opts(ctx, basic("admin"))...)
		if err != nil {
			t.Fatalf("admin catalog: %v", err)
		}
		for _, want := range []string{"alice/app", "public/x", "shared/app"} {
			if !slices.Contains(repos, want) {
				t.Errorf("catalog %q lacks %q", repos, want)
			}
		}
		_, err = remote.Catalog(ctx, reg, env.opts(ctx, basic("alice"))...)
		wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodGet, env.registryHost, "/v2/_catalog")
	})

	t.Run("refresh token from docker login works for ggcr", func(t *testing.T) {
		status, body := env.PostToken(t, e2etest.OfflineForm("alice", e2etest.Users["alice"]))
		rt, _ := body["refresh_token"].(string)
		if status != http.StatusOK || rt == "" || body["token_type"] != "Bearer" {
			t.Fatalf("password grant = %d %v, want 200 with a refresh_token and token_type Bearer", status, body)
		}
		identity := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{IdentityToken: rt})

		got, err := env.pull(ctx, "alice/app:v1", identity)
		if err != nil {
			t.Fatalf("pull alice/app with identity token: %v", err)
		}
		if got != fx.aliceApp {
			t.Errorf("pulled alice/app digest %s, pushed %s", got, fx.aliceApp)
		}
		pushed, err := env.push(ctx, "alice/other:v1", identity)
		if err != nil {
			t.Fatalf("push alice/other with identity token: %v", err)
		}
		if got, err := env.pull(ctx, "alice/other:v1", basic("alice")); err != nil || got != pushed {
			t.Errorf("alice/other:v1 pulled back = %s, %v; pushed %s", got, err, pushed)
		}
		// The refresh token stands for alice and nothing more: bob/x is
		// refused at ggcr's first request, the HEAD of the manifest.
		_, err = env.push(ctx, "bob/x:v1", identity)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/bob/x/manifests/v1")
		_, err = env.push(ctx, "shared/app:rt", identity)
		wantTransportError(t, err, http.StatusUnauthorized, registryDenied, http.MethodPost, env.registryHost, "/v2/shared/app/blobs/uploads/")

		// A forged one is refused by Tollgate (RFC 6749 §5.2: 400 invalid_grant).
		forged := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{IdentityToken: "tgr_" + strings.Repeat("A", 43)})
		_, err = env.pull(ctx, "alice/app:v1", forged)
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusBadRequest ||
			terr.Request == nil || terr.Request.URL.Host != env.Host || terr.Request.Method != http.MethodPost {
			t.Errorf("pull with a forged identity token: %v, want 400 from POST %s", err, env.Realm)
		}
	})

	t.Run("tokens verify through distribution's access controller", func(t *testing.T) {
		ac, err := auth.GetAccessController("token", map[string]any{
			"realm":          env.Realm,
			"issuer":         e2etest.Issuer,
			"service":        e2etest.Service,
			"rootcertbundle": env.certPath,
		})
		if err != nil {
			t.Fatalf("GetAccessController: %v", err)
		}
		aliceApp := auth.Resource{Type: "repository", Name: "alice/app"}
		push := auth.Access{Resource: aliceApp, Action: "push"}
		pull := auth.Access{Resource: aliceApp, Action: "pull"}

		pullPush := env.MustGetToken(t, "alice", "repository:alice/app:pull,push")
		grant, err := ac.Authorized(bearerRequest(pullPush), push, pull)
		if err != nil {
			t.Fatalf("Authorized(push, pull) with alice's pull,push token: %v", err)
		}
		if grant.User.Name != "alice" || !slices.Contains(grant.Resources, aliceApp) {
			t.Errorf("grant = %+v, want user alice with resource %+v", grant, aliceApp)
		}

		// A bad signature is reported as go-jose's error, without
		// error="invalid_token" in the challenge (distribution token.go Verify).
		tampered := flipSignatureChar(t, pullPush)
		_, err = ac.Authorized(bearerRequest(tampered), push)
		wantChallenge(t, err, `realm="`+env.Realm+`"`)
		if err != nil && err.Error() != jose.ErrCryptoFailure.Error() {
			t.Errorf("tampered token: %v, want %v", err, jose.ErrCryptoFailure)
		}

		pullOnly := env.MustGetToken(t, "alice", "repository:alice/app:pull")
		if _, err := ac.Authorized(bearerRequest(pullOnly), pull); err != nil {
			t.Errorf("Authorized(pull) with alice's pull token: %v", err)
		}
		_, err = ac.Authorized(bearerRequest(pullOnly), push)
		wantChallenge(t, err, `error="insufficient_scope"`)

		// Asking for more than the ACL allows yields the allowed subset, and
		// the registry enforces the difference.
		shared := env.MustGetToken(t, "alice", "repository:shared/app:pull,push")
		sharedApp := auth.Resource{Type: "repository", Name: "shared/app"}
		if _, err := ac.Authorized(bearerRequest(shared), auth.Access{Resource: sharedApp, Action: "pull"}); err != nil {
			t.Errorf("Authorized(shared/app pull): %v", err)
		}
		_, err = ac.Authorized(bearerRequest(shared), auth.Access{Resource: sharedApp, Action: "push"})
		wantChallenge(t, err, `error="insufficient_scope"`)
	})

	t.Run("everything on loopback", func(t *testing.T) {
		for _, hp := range []string{env.Host, env.registryHost} {
			if !strings.HasPrefix(hp, "localhost:") {
				t.Errorf("server address %s, want localhost:PORT", hp)
			}
		}
		dials := env.Dials.List()
		if len(dials) == 0 {
			t.Fatal("no dial went through the loopback transport")
		}
		for _, d := range dials {
			if ap, err := netip.ParseAddrPort(d); err != nil || !ap.Addr().Unmap().IsLoopback() {
				t.Errorf("dialed %s, not a loopback address", d)
			}
		}
		if n := defaultUsed.Load(); n != 0 {
			t.Errorf("http.DefaultTransport was used %d times; every request must use the loopback transport", n)
		}
	})
}

// forbidDefaultTransport makes http.DefaultTransport fail for the test, so
// no client silently bypasses the loopback transport, and counts its uses.
func forbidDefaultTransport(t *testing.T) *atomic.Int64 {
	t.Helper()
	var used atomic.Int64
	saved := http.DefaultTransport
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return nil, errors.New("e2e: http.DefaultTransport used for " + r.URL.String())
	})
	t.Cleanup(func() { http.DefaultTransport = saved })
	return &used
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// flipSignatureChar changes one base64url character in the middle of the
// JWS signature (the last character may only carry padding bits).
func flipSignatureChar(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || len(tok)-i < 8 {
		t.Fatalf("token %q has no signature", tok)
	}
	b := []byte(tok)
	j := i + (len(tok)-i)/2
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	return string(b)
}

// wantChallenge asserts distribution refused with a challenge whose
// WWW-Authenticate header carries param (its errors do not unwrap).
func wantChallenge(t *testing.T, err error, param string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Authorized succeeded, want a challenge with %s", param)
	}
	var ch auth.Challenge
	if !errors.As(err, &ch) {
		t.Fatalf("error %T %v is not an auth.Challenge", err, err)
	}
	w := httptest.NewRecorder()
	ch.SetHeaders(httptest.NewRequest(http.MethodGet, "http://registry.local/v2/", nil), w)
	if h := w.Header().Get("WWW-Authenticate"); !strings.Contains(h, param) {
		t.Errorf("challenge %q (%v) lacks %s", h, err, param)
	}
}
