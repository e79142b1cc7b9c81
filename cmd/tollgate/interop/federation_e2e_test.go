package interop_test

// CI OIDC federation with real peers: an in-test OpenID Provider (GitHub
// Actions-shaped tokens, discovered over HTTPS with the operator's ca_file)
// and a cluster's service-account issuer (a jwks_file), trusted by
// `tollgate serve`; the real registry; go-containerregistry and regclient
// as the clients. A workload gets its registry token by RFC 8693 token
// exchange, or as plain Docker clients do, with `-u oidc -p <identity
// token>`; either way it is confined to what the ACL gives its claims.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/regclient/regclient/types/errs"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authn/federation/federationtest"
	"github.com/tollgate/tollgate/pkg/verify"
)

// The federation of the environment: the Basic user name of identity
// tokens, the audience they must name, and the workloads' names.
const (
	oidcUser        = "oidc"
	idTokenAudience = "tollgate"
	githubWorkload  = "ci:github:acme/app" // subject "ci:github:${repository}"
	k8sWorkload     = "k8s:ci:builder"     // the cluster's service account ci/builder
)

// RFC 8693 §2.1 and §3.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// workloadACL goes before e2etest.ACL's rules (the first match wins): a
// GitHub workload pushes to its owner's namespace, a build service account
// of the cluster to ci/*.
const workloadACL = `  - {account: "ci:github:*", type: repository, name: "${claims:repository_owner}/*", actions: [pull, push]}
  - {account: "k8s:ci:*", type: repository, name: "ci/*", actions: [pull, push]}
`

// fedEnv is a Tollgate that trusts two issuers, and the registry, whose
// realm is a recorder in front of Tollgate's.
type fedEnv struct {
	*e2eEnv
	github, cluster *federationtest.Issuer
	rec             *realmRecorder
	realmHost       string // the recorder's localhost:PORT: where a client's token request goes
}

// newFederationE2E starts the issuers, then Tollgate on e2etest's
// environment with workloadACL and a federation section, then the registry.
func newFederationE2E(t *testing.T) *fedEnv {
	t.Helper()
	e2etest.OnlyEnv(t, nil)
	captureRegistryLogs(t)
	f := &fedEnv{github: federationtest.NewIssuer(t), cluster: federationtest.NewIssuer(t)}
	dir, _ := e2etest.Dir(t)
	configPath := filepath.Join(dir, "tollgate.yaml")
	writeFederationConfig(t, configPath, f.federationYAML(t))
	f.e2eEnv = startTollgate(t, configPath)
	f.certPath = filepath.Join(dir, "keys", "signing.crt")
	f.rec = newRealmRecorder(t, f.e2eEnv)
	realm, err := url.Parse(f.rec.realm)
	if err != nil {
		t.Fatal(err)
	}
	f.realmHost = realm.Host
	f.registryHost = startRegistry(t, f.rec.realm, f.certPath)
	f.waitReady(t)
	return f
}

// federationYAML trusts the GitHub-shaped issuer's pushes from acme's
// branches (keys by discovery, over HTTPS trusting ca_file) and the
// cluster's service accounts of namespace ci (keys from a file).
func (f *fedEnv) federationYAML(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf(`federation:
  username: %s
  issuers:
    - issuer: %q
      audiences: [%s]
      ca_file: %q
      algorithms: [RS256]
      max_age: 10m
      rules:
        - claims: {repository_owner: acme, ref: "refs/heads/*"}
          subject: "ci:github:${repository}"
    - issuer: %q
      audiences: [%s]
      jwks_file: %q
      rules:
        - claims: {"/kubernetes.io/namespace": ci}
          subject: "k8s:${/kubernetes.io/namespace}:${/kubernetes.io/serviceaccount/name}"
`, oidcUser, f.github.URL, idTokenAudience, f.github.CAFile(t),
		f.cluster.URL, idTokenAudience, f.cluster.JWKSFile(t))
}

// writeFederationConfig puts workloadACL at the head of the ACL of the
// configuration at path, appends fed, and checks that the result loads
// and validates as `tollgate serve` will load it.
func writeFederationConfig(t *testing.T, path, fed string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	if strings.Count(yaml, "\nacl:\n") != 1 {
		t.Fatalf("%s: no single acl section to extend:\n%s", path, yaml)
	}
	yaml = strings.Replace(yaml, "\nacl:\n", "\nacl:\n"+workloadACL, 1) + fed
	writeConfig(t, path, yaml)
}

// githubToken is a GitHub Actions identity token of a run of repository
// on ref, for Tollgate.
func (f *fedEnv) githubToken(t *testing.T, repository, ref string) string {
	t.Helper()
	return f.github.Mint(t, federationtest.GitHubClaims(idTokenAudience, repository, ref, time.Now()))
}

// k8sToken is a projected service-account token of the cluster.
func (f *fedEnv) k8sToken(t *testing.T, namespace, serviceAccount string) string {
	t.Helper()
	return f.cluster.Mint(t, federationtest.KubernetesClaims(idTokenAudience, namespace, serviceAccount, time.Now()))
}

// exchange trades an identity token for a registry token at POST
// /oauth2/token (RFC 8693 §2.1), as a CI step would with curl.
func (f *fedEnv) exchange(t *testing.T, idToken string, scopes ...string) (int, map[string]any) {
	t.Helper()
	return f.PostToken(t, url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {idToken},
		"subject_token_type": {tokenTypeIDToken},
		"client_id":          {"github-actions"},
		"service":            {e2etest.Service},
		"scope":              {strings.Join(scopes, " ")},
	})
}

// mustExchange is exchange that fails the test unless Tollgate issued an
// access token (RFC 8693 §2.2.1) granting exactly the scope want.
func (f *fedEnv) mustExchange(t *testing.T, idToken, scope, want string) string {
	t.Helper()
	status, body := f.exchange(t, idToken, scope)
	tok, _ := body["access_token"].(string)
	expires, _ := body["expires_in"].(float64)
	if status != http.StatusOK || tok == "" || body["issued_token_type"] != tokenTypeAccess ||
		body["token_type"] != "Bearer" || expires <= 0 || body["scope"] != want {
		t.Fatalf("token exchange for %s = %d %v; want 200 with an access_token, issued_token_type %s, token_type Bearer, expires_in and scope %q",
			scope, status, body, tokenTypeAccess, want)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Errorf("token exchange answered a refresh_token unasked: %v", body)
	}
	return tok
}

// dockerLogin asks for a token the way `docker login -u oidc -p <identity
// token>` does (distribution's client session.go: GET with Basic,
// account=<login>, client_id=docker, offline_token=true) and returns the
// refresh token that docker stores as identitytoken in config.json.
func (f *fedEnv) dockerLogin(t *testing.T, idToken string) string {
	t.Helper()
	q := url.Values{"service": {e2etest.Service}, "account": {oidcUser}, "client_id": {"docker"}, "offline_token": {"true"}}
	req, err := http.NewRequest(http.MethodGet, f.Realm+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(oidcUser, idToken)
	status, body := f.Do(t, req)
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" || body["token"] == nil {
		t.Fatalf("docker login as oidc = %d %v, want 200 with a token and a refresh_token", status, body)
	}
	return rt
}

// wantNoTokenRequests checks that the client asked Tollgate nothing.
func (f *fedEnv) wantNoTokenRequests(t *testing.T) {
	t.Helper()
	if reqs := f.rec.take(); len(reqs) != 0 {
		t.Errorf("the client asked Tollgate for tokens: %+v; want none (it holds one)", reqs)
	}
}

// wantCraneRequests checks the token requests of ggcr logged in as oidc:
// GET with Basic oidc, no account parameter (crane sends none), answered
// status.
func (f *fedEnv) wantCraneRequests(t *testing.T, status int) {
	t.Helper()
	reqs := f.rec.take()
	if len(reqs) == 0 {
		t.Fatal("no token request went through the realm's proxy")
	}
	for _, r := range reqs {
		if r.Method != http.MethodGet || r.User != oidcUser || r.Query.Has("account") ||
			r.Query.Get("service") != e2etest.Service || r.Status != status {
			t.Errorf("token request %s %s with Basic user %q answered %d; want GET with Basic %s, no account, service=%s, answered %d",
				r.Method, r.Query.Encode(), r.User, r.Status, oidcUser, e2etest.Service, status)
		}
	}
}

// TestEndToEndFederation: CI workloads push through the real registry with
// no stored secret, each confined to its namespace. The subtests share one
// environment and run in order: the refusals come last, so that the
// failed logins spend the address's budget after everything else.
func TestEndToEndFederation(t *testing.T) {
	defaultUsed := forbidDefaultTransport(t)
	env := newFederationE2E(t)
	ctx := t.Context()
	idToken := env.githubToken(t, "acme/app", "refs/heads/main")
	asOIDC := &ggcrauthn.Basic{Username: oidcUser, Password: idToken}
	env.rec.take() // waitReady's

	t.Run("token exchange: the access token pushes and pulls as a static Bearer credential", func(t *testing.T) {
		tok := env.mustExchange(t, idToken, "repository:acme/app:pull,push", "repository:acme/app:pull,push")
		wantAuthorized(t, accessController(t, env.certPath, env.Realm), tok, githubWorkload, "acme/app", "pull", "push")
		c := env.verifyToken(t, tok)
		if id := c.Identity; id == nil || id.Kind != verify.KindWorkload || id.Name != githubWorkload || id.Source != federation.Source ||
			id.Claims["iss"] != env.github.URL || id.Claims["repository_owner"] != "acme" || id.Claims["ref"] != "refs/heads/main" {
			t.Errorf("tollgate claim %+v; want kind %s, name %s, source %s, iss/repository_owner/ref of the identity token",
				id, verify.KindWorkload, githubWorkload, federation.Source)
		}
		if c.Subject != githubWorkload {
			t.Errorf("sub %q, want %q", c.Subject, githubWorkload)
		}

		bearer := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{RegistryToken: tok})
		pushed := env.mustPush(t, ctx, "acme/app:exchanged", bearer)
		got, err := env.pull(ctx, "acme/app:exchanged", bearer)
		if err != nil || got != pushed {
			t.Fatalf("pull acme/app:exchanged with the exchanged token = %s, %v; pushed %s", got, err, pushed)
		}
		env.wantNoTokenRequests(t)
	})

	t.Run("ggcr logged in as oidc with the identity token pushes and pulls back", func(t *testing.T) {
		pushed := env.mustPush(t, ctx, "acme/app:basic", asOIDC)
		got, err := env.pull(ctx, "acme/app:basic", asOIDC)
		if err != nil || got != pushed {
			t.Fatalf("pull acme/app:basic as oidc = %s, %v; pushed %s", got, err, pushed)
		}
		env.wantCraneRequests(t, http.StatusOK)
	})

	t.Run("regclient logged in as oidc (account=oidc) pushes and pulls back", func(t *testing.T) {
		rc := newRegclient(t, env.e2eEnv, env.registryHost, oidcUser, idToken)
		pushed, err := rcPush(ctx, rc, env.registryHost, "acme/rc:v1")
		if err != nil {
			t.Fatalf("push acme/rc:v1 as oidc: %v", err)
		}
		got, err := rcPull(ctx, rc, env.registryHost, "acme/rc:v1")
		if err != nil || got != pushed {
			t.Fatalf("pull acme/rc:v1 as oidc = %s, %v; pushed %s", got, err, pushed)
		}
		wantTokenRequests(t, env.rec.take(), oidcUser, "acme/rc")
	})

	t.Run("docker login -u oidc: the identity token it stores pushes until tollgate workloads revoke", func(t *testing.T) {
		rt := env.dockerLogin(t, idToken)
		identity := ggcrauthn.FromConfig(ggcrauthn.AuthConfig{IdentityToken: rt})
		pushed := env.mustPush(t, ctx, "acme/app:login", identity)
		if got, err := env.pull(ctx, "acme/app:login", asOIDC); err != nil || got != pushed {
			t.Fatalf("pull acme/app:login = %s, %v; pushed %s", got, err, pushed)
		}
		_, err := env.push(ctx, "other/app:login", identity)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/other/app/manifests/login")
		// ggcr redeemed the identity token (POST grant_type=refresh_token)
		// for every token, other/app's included: the refusal is the registry's.
		reqs := env.rec.take()
		if !slices.ContainsFunc(reqs, func(r tokenRequest) bool { return r.Method == http.MethodPost }) {
			t.Errorf("no POST among the token requests %+v, want ggcr's refresh_token grant", reqs)
		}
		for _, r := range reqs {
			if r.Status != http.StatusOK || (r.Method == http.MethodGet && r.User != oidcUser) {
				t.Errorf("token request %s %s (Basic user %q) answered %d, want 200", r.Method, r.Query.Encode(), r.User, r.Status)
			}
		}

		out, err := runCLI(t, "", "workloads", "revoke", githubWorkload, "--config", env.configPath)
		if err != nil || !strings.Contains(out, "revoked 1 refresh tokens") {
			t.Fatalf("tollgate workloads revoke %s: %v\n%s", githubWorkload, err, out)
		}
		err = env.refusedWithin(t, revocationBound, func() error { _, err := env.push(ctx, "acme/app:revoked", identity); return err })
		// Refused by Tollgate at the token exchange (RFC 6749 §5.2: 400 invalid_grant).
		wantTransportError(t, err, http.StatusBadRequest, "", http.MethodPost, env.realmHost, "/oauth2/token")
		// The identity token itself still logs in: the CI job is not ended.
		if _, err := env.push(ctx, "acme/app:after-revoke", asOIDC); err != nil {
			t.Errorf("push as oidc after the revocation: %v", err)
		}
		env.rec.take()
	})

	t.Run("a cluster's service account of a trusted namespace pushes to its repositories", func(t *testing.T) {
		asBuilder := &ggcrauthn.Basic{Username: oidcUser, Password: env.k8sToken(t, "ci", "builder")}
		pushed := env.mustPush(t, ctx, "ci/app:v1", asBuilder)
		if got, err := env.pull(ctx, "ci/app:v1", asBuilder); err != nil || got != pushed {
			t.Fatalf("pull ci/app:v1 as the builder = %s, %v; pushed %s", got, err, pushed)
		}
		env.wantCraneRequests(t, http.StatusOK)
		tok := env.mustExchange(t, env.k8sToken(t, "ci", "builder"), "repository:ci/app:pull", "repository:ci/app:pull")
		wantAuthorized(t, accessController(t, env.certPath, env.Realm), tok, k8sWorkload, "ci/app", "pull")
	})

	t.Run("the workload is confined to its namespace by the registry", func(t *testing.T) {
		// Exchanged for other/app: Tollgate grants nothing (a denial is
		// not an error), and the registry refuses the push made with it.
		tok := env.mustExchange(t, idToken, "repository:other/app:pull,push", "")
		_, err := env.push(ctx, "other/app:v1", ggcrauthn.FromConfig(ggcrauthn.AuthConfig{RegistryToken: tok}))
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/other/app/manifests/v1")
		// The token of acme/app does not open other/app either.
		tok = env.mustExchange(t, idToken, "repository:acme/app:pull,push", "repository:acme/app:pull,push")
		_, err = env.push(ctx, "other/app:v1", ggcrauthn.FromConfig(ggcrauthn.AuthConfig{RegistryToken: tok}))
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/other/app/manifests/v1")
		env.wantNoTokenRequests(t)

		// Logged in as oidc: Tollgate answers every request (with nothing
		// granted on other/app); the refusal is the registry's.
		_, err = env.push(ctx, "other/app:v1", asOIDC)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/other/app/manifests/v1")
		env.wantCraneRequests(t, http.StatusOK)
		// The builder's token pushes to ci/*, not to acme's namespace.
		_, err = env.push(ctx, "acme/app:builder", &ggcrauthn.Basic{Username: oidcUser, Password: env.k8sToken(t, "ci", "builder")})
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/acme/app/manifests/builder")
		env.wantCraneRequests(t, http.StatusOK)

		rc := newRegclient(t, env.e2eEnv, env.registryHost, oidcUser, idToken)
		if _, err := rcPush(ctx, rc, env.registryHost, "other/rc:v1"); !errors.Is(err, errs.ErrHTTPUnauthorized) {
			t.Errorf("regclient push to other/rc as oidc: %v, want %v", err, errs.ErrHTTPUnauthorized)
		}
		for _, r := range env.rec.take() {
			if r.Status != http.StatusOK {
				t.Errorf("regclient's token request %s answered %d, want 200 (the registry refuses, not Tollgate)", r.Query.Encode(), r.Status)
			}
		}
		if repos := env.catalog(t); slices.Contains(repos, "other/app") || slices.Contains(repos, "other/rc") {
			t.Errorf("catalog after the refused pushes lists %q", repos)
		}
	})

	t.Run("identity tokens no rule trusts fail login", func(t *testing.T) {
		for _, c := range []struct{ name, idToken string }{
			{"a service account of an untrusted namespace", env.k8sToken(t, "sandbox", "builder")},
			{"a pull request's run of acme/app", env.githubToken(t, "acme/app", "refs/pull/7/merge")},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := env.pull(ctx, "acme/app:basic", &ggcrauthn.Basic{Username: oidcUser, Password: c.idToken})
				terr := wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.realmHost, "/oauth2/token")
				if len(terr.Errors) == 1 && !strings.Contains(terr.Errors[0].Message, "identity token refused: no rule") {
					t.Errorf("Tollgate's message %q does not say that no rule trusts the token", terr.Errors[0].Message)
				}
				env.wantCraneRequests(t, http.StatusUnauthorized)

				rc := newRegclient(t, env.e2eEnv, env.registryHost, oidcUser, c.idToken)
				if _, err := rcPull(ctx, rc, env.registryHost, "acme/rc:v1"); !errors.Is(err, errs.ErrHTTPUnauthorized) {
					t.Errorf("regclient pull with the token: %v, want %v", err, errs.ErrHTTPUnauthorized)
				}
				reqs := env.rec.take()
				wantTokenRequests(t, reqs, oidcUser, "")
				for _, r := range reqs {
					if r.Status != http.StatusUnauthorized {
						t.Errorf("regclient's token request %s answered %d, want 401", r.Query.Encode(), r.Status)
					}
				}

				// RFC 8693 §2.2.2: a refused subject_token is invalid_request.
				status, body := env.exchange(t, c.idToken, "repository:acme/app:pull")
				if status != http.StatusBadRequest || body["error"] != "invalid_request" || body["access_token"] != nil {
					t.Errorf("token exchange = %d %v, want 400 invalid_request", status, body)
				}
			})
		}
	})

	if n := defaultUsed.Load(); n != 0 {
		t.Errorf("http.DefaultTransport was used %d times; every request must use the loopback transport", n)
	}
}

// verifyToken checks a registry token with pkg/verify over Tollgate's
// JWKS, as a service of the registry's would, and returns its claims.
func (f *fedEnv) verifyToken(t *testing.T, raw string) verify.Claims {
	t.Helper()
	v, err := verify.New(verify.Options{Issuer: e2etest.Issuer, Audience: e2etest.Service,
		JWKSURL: f.Base() + "/.well-known/jwks.json", HTTPClient: f.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("pkg/verify refuses the token: %v", err)
	}
	return c
}

// catalog lists the registry's repositories, as admin.
func (f *fedEnv) catalog(t *testing.T) []string {
	t.Helper()
	repos, err := remote.Catalog(t.Context(), f.ref(t, "x/y").Context().Registry, f.opts(t.Context(), basic("admin"))...)
	if err != nil {
		t.Fatalf("admin catalog: %v", err)
	}
	f.rec.take()
	return repos
}
