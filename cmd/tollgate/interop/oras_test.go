package interop_test

// oras-go (the library behind the oras CLI) as the registry client: an OCI
// 1.1 artifact with one layer, pushed and pulled back with oras.Copy.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// orasArtifactType is the artifact type of what orasPush pushes.
const orasArtifactType = "application/vnd.tollgate.test"

// orasRepository is oras-go's client of repoTag's repository on
// registryHost (plain HTTP), logged in as user, on the loopback transport.
func (e *e2eEnv) orasRepository(registryHost, repoTag, user, password string) (*remote.Repository, string, error) {
	repo, tag, ok := strings.Cut(repoTag, ":")
	if !ok {
		return nil, "", fmt.Errorf("%q has no tag", repoTag)
	}
	r, err := remote.NewRepository(registryHost + "/" + repo)
	if err != nil {
		return nil, "", err
	}
	r.PlainHTTP = true
	r.Client = &auth.Client{
		Client:     &http.Client{Transport: e.Transport},
		Cache:      auth.NewCache(),
		Credential: auth.StaticCredential(registryHost, auth.Credential{Username: user, Password: password}),
	}
	return r, tag, nil
}

// orasPush pushes an artifact with one random layer of size bytes to
// repoTag and returns its manifest's digest.
func (e *e2eEnv) orasPush(ctx context.Context, registryHost, repoTag, user, password string, size int) (digest.Digest, error) {
	repo, tag, err := e.orasRepository(registryHost, repoTag, user, password)
	if err != nil {
		return "", err
	}
	src := memory.New()
	data := make([]byte, size)
	rand.Read(data)
	layer := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data)
	if err := src.Push(ctx, layer, bytes.NewReader(data)); err != nil {
		return "", err
	}
	m, err := oras.PackManifest(ctx, src, oras.PackManifestVersion1_1, orasArtifactType,
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		return "", err
	}
	if err := src.Tag(ctx, m, tag); err != nil {
		return "", err
	}
	d, err := oras.Copy(ctx, src, tag, repo, tag, oras.DefaultCopyOptions)
	return d.Digest, err
}

// orasPull copies repoTag, manifest and every blob (each checked against
// its digest by oras.Copy), into memory and returns the manifest's digest.
func (e *e2eEnv) orasPull(ctx context.Context, registryHost, repoTag, user, password string) (digest.Digest, error) {
	repo, tag, err := e.orasRepository(registryHost, repoTag, user, password)
	if err != nil {
		return "", err
	}
	d, err := oras.Copy(ctx, repo, tag, memory.New(), tag, oras.DefaultCopyOptions)
	return d.Digest, err
}
