package interop_test

// regclient (the library behind regctl) against the real registry, with API
// tokens as passwords. regclient sends account=<the login name> with every
// token request, as the Docker CLI does; a recording proxy in front of
// Tollgate's realm proves it.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// tokenRequest is what realmRecorder keeps of one token request: never a
// password or a token.
type tokenRequest struct {
	Method string
	Query  url.Values
	User   string // the HTTP Basic user name; "" without Basic
	Status int    // Tollgate's answer
}

// realmRecorder is a reverse proxy in front of Tollgate's realm. A registry
// whose realm is the proxy's sends every client's token requests through
// it; it records each one and forwards it unchanged.
type realmRecorder struct {
	realm string // http://localhost:PORT/oauth2/token

	mu   sync.Mutex
	reqs []tokenRequest
}

func newRealmRecorder(t *testing.T, env *e2eEnv) *realmRecorder {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: env.Host}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: env.Transport,
	}
	rec := &realmRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		rec.add(tokenRequest{Method: r.Method, Query: r.URL.Query(), User: user, Status: sw.status})
	}))
	t.Cleanup(srv.Close)
	rec.realm = "http://" + net.JoinHostPort("localhost", e2etest.PortOf(t, srv.Listener.Addr())) + "/oauth2/token"
	return rec
}

func (rec *realmRecorder) add(r tokenRequest) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, r)
}

// take returns the requests recorded since the last take.
func (rec *realmRecorder) take() []tokenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	reqs := rec.reqs
	rec.reqs = nil
	return reqs
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// newRegclient is regctl's client for registryHost, configured as
// `regctl registry set HOST --tls disabled` and `regctl registry login HOST
// -u user -p password` would, on the loopback transport. Its log is shown
// only when the test fails.
func newRegclient(t *testing.T, env *e2eEnv, registryHost, user, password string) *regclient.RegClient {
	t.Helper()
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("regclient log (%s):\n%s", user, logs.String())
		}
	})
	h := config.HostNewName(registryHost)
	h.TLS = config.TLSDisabled
	h.User, h.Pass = user, password
	return regclient.New(
		regclient.WithConfigHost(*h),
		regclient.WithRegOpts(reg.WithTransport(env.Transport), reg.WithRetryLimit(1)),
		regclient.WithSlog(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	)
}

// rcPush writes a small random image (from go-containerregistry) to
// registryHost/repoTag with regclient: its blobs with BlobPut, then its
// manifest with ManifestPut. It returns the manifest's digest.
func rcPush(ctx context.Context, rc *regclient.RegClient, registryHost, repoTag string) (digest.Digest, error) {
	r, err := ref.New(registryHost + "/" + repoTag)
	if err != nil {
		return "", err
	}
	defer rc.Close(ctx, r)
	img, err := random.Image(256, 1)
	if err != nil {
		return "", err
	}
	blobs, err := imageBlobs(img)
	if err != nil {
		return "", err
	}
	for _, b := range blobs {
		d := descriptor.Descriptor{MediaType: b.mediaType, Digest: digest.FromBytes(b.data), Size: int64(len(b.data))}
		if _, err := rc.BlobPut(ctx, r, d, bytes.NewReader(b.data)); err != nil {
			return "", err
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", err
	}
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(descriptor.Descriptor{
		MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))}))
	if err != nil {
		return "", err
	}
	if err := rc.ManifestPut(ctx, r, m); err != nil {
		return "", err
	}
	return digest.FromBytes(raw), nil
}

type imageBlob struct {
	mediaType string
	data      []byte
}

// imageBlobs returns the image's layers and config, as pushed.
func imageBlobs(img v1.Image) ([]imageBlob, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var blobs []imageBlob
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, imageBlob{string(mt), data})
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	return append(blobs, imageBlob{string(m.Config.MediaType), cfg}), nil
}

// rcPull reads registryHost/repoTag back with regclient, every blob
// included, and checks each blob's content against its digest. It returns
// the manifest's digest.
func rcPull(ctx context.Context, rc *regclient.RegClient, registryHost, repoTag string) (digest.Digest, error) {
	r, err := ref.New(registryHost + "/" + repoTag)
	if err != nil {
		return "", err
	}
	defer rc.Close(ctx, r)
	m, err := rc.ManifestGet(ctx, r)
	if err != nil {
		return "", err
	}
	img, ok := m.(manifest.Imager)
	if !ok {
		return "", errors.New("not an image manifest")
	}
	layers, err := img.GetLayers()
	if err != nil {
		return "", err
	}
	cfg, err := img.GetConfig()
	if err != nil {
		return "", err
	}
	for _, d := range append(layers, cfg) {
		br, err := rc.BlobGet(ctx, r, d)
		if err != nil {
			return "", err
		}
		data, err := io.ReadAll(br)
		br.Close()
		if err != nil {
			return "", err
		}
		if got := digest.FromBytes(data); got != d.Digest {
			return "", errors.New("blob " + d.Digest.String() + " read back as " + got.String())
		}
	}
	return m.GetDescriptor().Digest, nil
}

// TestEndToEndRegclient: regctl's library pushes and pulls through the real
// registry with API tokens as passwords, logged in as "token" (sending
// account=token) or as the owner; a read token is refused the push by the
// registry.
func TestEndToEndRegclient(t *testing.T) {
	defaultUsed := forbidDefaultTransport(t)
	env := newE2E(t)
	ctx := t.Context()
	rec := newRealmRecorder(t, env)
	registryHost := startRegistry(t, rec.realm, env.certPath)
	write, _ := e2etest.CreateAPIToken(t, env.HTTP, env.Base(), "alice", "write")
	read, _ := e2etest.CreateAPIToken(t, env.HTTP, env.Base(), "alice", "read")

	t.Run("-u token with a write token pushes and pulls back", func(t *testing.T) {
		rc := newRegclient(t, env, registryHost, "token", write)
		pushed, err := rcPush(ctx, rc, registryHost, "alice/rc:v1")
		if err != nil {
			t.Fatalf("push alice/rc:v1 with the write token: %v", err)
		}
		got, err := rcPull(ctx, rc, registryHost, "alice/rc:v1")
		if err != nil || got != pushed {
			t.Fatalf("pull alice/rc:v1 = %s, %v; pushed %s", got, err, pushed)
		}
		reqs := rec.take()
		wantTokenRequests(t, reqs, "token", "alice/rc")
		for _, r := range reqs {
			t.Logf("regclient asked: %s %s (Basic user %q) → %d", r.Method, r.Query.Encode(), r.User, r.Status)
		}
	})

	t.Run("-u token with a read token is refused the push by the registry", func(t *testing.T) {
		rc := newRegclient(t, env, registryHost, "token", read)
		if got, err := rcPull(ctx, rc, registryHost, "alice/rc:v1"); err != nil {
			t.Fatalf("pull alice/rc:v1 with the read token = %s, %v", got, err)
		}
		_, err := rcPush(ctx, rc, registryHost, "alice/rc:read")
		if !errors.Is(err, errs.ErrHTTPUnauthorized) {
			t.Fatalf("push with the read token: %v, want %v", err, errs.ErrHTTPUnauthorized)
		}
		t.Logf("regclient's error: %v", err)
		reqs := rec.take()
		wantTokenRequests(t, reqs, "token", "")
		// Tollgate answered every token request (with pull only for the
		// push scope): the refusal is the registry's.
		for _, r := range reqs {
			if r.Status != http.StatusOK {
				t.Errorf("token request %s %s answered %d, want 200 (the registry refuses, not Tollgate)", r.Method, r.Query.Encode(), r.Status)
			}
		}
		if !slices.ContainsFunc(reqs, func(r tokenRequest) bool { return asksPush(r, "alice/rc") }) {
			t.Errorf("no token request asked for push on alice/rc: %+v", reqs)
		}
		wantTags(t, ctx, newRegclient(t, env, registryHost, "token", read), registryHost, "alice/rc", "v1")
		rec.take()
	})

	t.Run("-u alice with her token: account is the owner's name", func(t *testing.T) {
		rc := newRegclient(t, env, registryHost, "alice", write)
		pushed, err := rcPush(ctx, rc, registryHost, "alice/rc:v2")
		if err != nil {
			t.Fatalf("push alice/rc:v2 as alice with the write token: %v", err)
		}
		if got, err := rcPull(ctx, newRegclient(t, env, registryHost, "alice", read), registryHost, "alice/rc:v2"); err != nil || got != pushed {
			t.Fatalf("pull alice/rc:v2 as alice with the read token = %s, %v; pushed %s", got, err, pushed)
		}
		wantTokenRequests(t, rec.take(), "alice", "alice/rc")
	})

	t.Run("-u bob with alice's token is refused by Tollgate", func(t *testing.T) {
		// The token is not bob's password: the login itself fails (401),
		// before account=bob is looked at.
		rc := newRegclient(t, env, registryHost, "bob", write)
		_, err := rcPull(ctx, rc, registryHost, "alice/rc:v1")
		if !errors.Is(err, errs.ErrHTTPUnauthorized) {
			t.Fatalf("pull as bob with alice's token: %v, want %v", err, errs.ErrHTTPUnauthorized)
		}
		reqs := rec.take()
		wantTokenRequests(t, reqs, "bob", "")
		for _, r := range reqs {
			if r.Status != http.StatusUnauthorized {
				t.Errorf("token request as bob with alice's token answered %d, want 401", r.Status)
			}
		}
	})

	if n := defaultUsed.Load(); n != 0 {
		t.Errorf("http.DefaultTransport was used %d times; every request must use the loopback transport", n)
	}
}

// wantTokenRequests checks that there were token requests and that each
// was regclient's GET with HTTP Basic as login, account=login and a
// regclient client_id, for the registry's service; and, when pushRepo is
// not "", that one of them asked to push to that repository.
func wantTokenRequests(t *testing.T, reqs []tokenRequest, login, pushRepo string) {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("no token request went through the realm's proxy")
	}
	for _, r := range reqs {
		q := r.Query
		if r.Method != http.MethodGet || r.User != login || q.Get("account") != login || len(q["account"]) != 1 ||
			!strings.HasPrefix(q.Get("client_id"), "regclient/") || q.Get("service") != e2etest.Service {
			t.Errorf("token request %s %s with Basic user %q; want GET with Basic %q, account=%s, client_id=regclient/…, service=%s",
				r.Method, q.Encode(), r.User, login, login, e2etest.Service)
		}
	}
	if pushRepo != "" && !slices.ContainsFunc(reqs, func(r tokenRequest) bool { return asksPush(r, pushRepo) }) {
		t.Errorf("no token request asked to push to %s", pushRepo)
	}
}

// asksPush reports whether r asks for pull and push on repository repo,
// in either order (regclient repeats the registry's challenge, whose order
// varies).
func asksPush(r tokenRequest, repo string) bool {
	return slices.ContainsFunc(r.Query["scope"], func(s string) bool {
		for _, one := range strings.Fields(s) { // a scope parameter may hold several, space-separated
			typ, rest, _ := strings.Cut(one, ":")
			i := strings.LastIndexByte(rest, ':')
			if typ != "repository" || i < 0 || rest[:i] != repo {
				continue
			}
			actions := strings.Split(rest[i+1:], ",")
			if slices.Contains(actions, "pull") && slices.Contains(actions, "push") {
				return true
			}
		}
		return false
	})
}

// wantTags fails unless repo's tags are exactly want.
func wantTags(t *testing.T, ctx context.Context, rc *regclient.RegClient, registryHost, repo string, want ...string) {
	t.Helper()
	r, err := ref.New(registryHost + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := rc.TagList(ctx, r)
	if err != nil {
		t.Fatalf("tags of %s: %v", repo, err)
	}
	tags, err := tl.GetTags()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, want) {
		t.Errorf("tags of %s = %q, want %q", repo, tags, want)
	}
}
