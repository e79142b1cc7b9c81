package interop_test

// go-containerregistry (crane's library) as the registry client.

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
)

// ref names a repository:tag on the registry.
func (e *e2eEnv) ref(t *testing.T, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (e *e2eEnv) opts(ctx context.Context, a authn.Authenticator) []remote.Option {
	return []remote.Option{remote.WithAuth(a), remote.WithTransport(e.Transport), remote.WithContext(ctx)}
}

func basic(user string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: e2etest.Users[user]}
}

// push writes a small random image and returns its digest.
func (e *e2eEnv) push(ctx context.Context, repoTag string, a authn.Authenticator) (v1.Hash, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return v1.Hash{}, err
	}
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, e.opts(ctx, a)...); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

func (e *e2eEnv) mustPush(t *testing.T, ctx context.Context, repoTag string, a authn.Authenticator) v1.Hash {
	t.Helper()
	d, err := e.push(ctx, repoTag, a)
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return d
}

// pull fetches the image and returns the digest the registry served; it
// also reads every layer so blob access is exercised, not just manifests.
func (e *e2eEnv) pull(ctx context.Context, repoTag string, a authn.Authenticator) (v1.Hash, error) {
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(ref, e.opts(ctx, a)...)
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

// wantTransportError asserts err is a ggcr *transport.Error with the status
// and the failing request's method, host and path (a prefix), carrying
// exactly one diagnostic with code, or none when code is "" (HEAD responses
// have no body), and returns it.
func wantTransportError(t *testing.T, err error, status int, code transport.ErrorCode, method, host, path string) *transport.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s from %s %s%s", status, code, method, host, path)
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("error %T %v is not a *transport.Error", err, err)
	}
	if terr.StatusCode != status {
		t.Errorf("status %d, want %d (%v)", terr.StatusCode, status, err)
	}
	switch {
	case code == "" && len(terr.Errors) != 0:
		t.Errorf("diagnostics %+v, want none (%v)", terr.Errors, err)
	case code != "" && (len(terr.Errors) != 1 || terr.Errors[0].Code != code):
		t.Errorf("diagnostics %+v, want exactly one %s (%v)", terr.Errors, code, err)
	}
	if terr.Request == nil {
		t.Fatalf("transport.Error has no request (%v)", err)
	}
	if u := terr.Request.URL; terr.Request.Method != method || u.Host != host || !strings.HasPrefix(u.Path, path) {
		t.Errorf("failed request %s %s, want %s %s%s…", terr.Request.Method, u, method, host, path)
	}
	return terr
}
