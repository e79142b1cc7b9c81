package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/pkg/scope"
)

const dgst = "sha256:4c1a0f0a2bd3ff0e8bd6bd7d6a6d8c1b2e9c2f0c34df6e8d5ee3f3a6f6a0b1c2"

// The whole route table of the distribution API (OCI distribution spec
// §3, end-1 to end-13, and the catalog), each method it takes.
func TestRouteTable(t *testing.T) {
	tests := []struct {
		id, method, uri string
		want            string // scopes as scope.Join writes them; "base" for the version check
	}{
		{"end-1", "GET", "/v2/", "base"},
		{"end-1 no slash", "GET", "/v2", "base"},
		{"end-2 GET", "GET", "/v2/acme/app/blobs/" + dgst, "repository:acme/app:pull"},
		{"end-2 HEAD", "HEAD", "/v2/acme/app/blobs/" + dgst, "repository:acme/app:pull"},
		{"end-3 tag", "GET", "/v2/acme/app/manifests/latest", "repository:acme/app:pull"},
		{"end-3 digest", "HEAD", "/v2/acme/app/manifests/" + dgst, "repository:acme/app:pull"},
		{"end-4a", "POST", "/v2/acme/app/blobs/uploads/", "repository:acme/app:push"},
		{"end-4b monolithic", "POST", "/v2/acme/app/blobs/uploads/?digest=" + dgst, "repository:acme/app:push"},
		{"end-5", "PATCH", "/v2/acme/app/blobs/uploads/9f8e7d6c-aaaa-bbbb", "repository:acme/app:push"},
		{"end-6", "PUT", "/v2/acme/app/blobs/uploads/9f8e7d6c-aaaa-bbbb?digest=" + dgst, "repository:acme/app:push"},
		{"end-7 tag", "PUT", "/v2/acme/app/manifests/v1.2.3", "repository:acme/app:push"},
		{"end-7 digest", "PUT", "/v2/acme/app/manifests/" + dgst, "repository:acme/app:push"},
		{"end-8a", "GET", "/v2/acme/app/tags/list", "repository:acme/app:pull"},
		{"end-8b", "GET", "/v2/acme/app/tags/list?n=10&last=v1", "repository:acme/app:pull"},
		{"end-9", "DELETE", "/v2/acme/app/manifests/" + dgst, "repository:acme/app:delete"},
		{"end-10", "DELETE", "/v2/acme/app/blobs/" + dgst, "repository:acme/app:delete"},
		{"end-11 mount", "POST", "/v2/acme/app/blobs/uploads/?mount=" + dgst + "&from=other/base", "repository:acme/app:push repository:other/base:pull"},
		{"end-11 mount from itself", "POST", "/v2/acme/app/blobs/uploads/?mount=" + dgst + "&from=acme/app", "repository:acme/app:push"},
		{"end-12a", "GET", "/v2/acme/app/referrers/" + dgst, "repository:acme/app:pull"},
		{"end-12b", "GET", "/v2/acme/app/referrers/" + dgst + "?artifactType=application%2Fvnd.example", "repository:acme/app:pull"},
		{"end-13 upload status", "GET", "/v2/acme/app/blobs/uploads/9f8e7d6c-aaaa-bbbb", "repository:acme/app:push"},
		{"cancel upload", "DELETE", "/v2/acme/app/blobs/uploads/9f8e7d6c-aaaa-bbbb", "repository:acme/app:push"},
		{"catalog", "GET", "/v2/_catalog", "registry:catalog:*"},
		{"catalog paged", "GET", "/v2/_catalog?n=100&last=acme%2Fapp", "registry:catalog:*"},
		{"one component", "GET", "/v2/app/manifests/latest", "repository:app:pull"},
		{"deep name", "GET", "/v2/a/b/c/d/manifests/latest", "repository:a/b/c/d:pull"},
		{"a domain first (the registry's grammar)", "GET", "/v2/Registry.example:5000/app/manifests/latest", "repository:Registry.example:5000/app:pull"},
		{"separators", "GET", "/v2/a.b/c_d/e__f/g-h--i/manifests/latest", "repository:a.b/c_d/e__f/g-h--i:pull"},
		{"a component named manifests", "GET", "/v2/a/manifests/b/manifests/latest", "repository:a/manifests/b:pull"},
		{"a component named blobs", "GET", "/v2/x/blobs/y/blobs/" + dgst, "repository:x/blobs/y:pull"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			a, err := gateway.Route(tt.method, tt.uri)
			if err != nil {
				t.Fatalf("Route(%s %s) = %v", tt.method, tt.uri, err)
			}
			got := scope.Join(a.Scopes)
			if a.Base {
				got = "base"
			}
			if got != tt.want {
				t.Errorf("Route(%s %s) = %q, want %q", tt.method, tt.uri, got, tt.want)
			}
		})
	}
}

// Anything else is not the registry's: denied.
func TestRouteRefusals(t *testing.T) {
	for _, tt := range []struct{ method, uri string }{
		{"GET", "/"},
		{"GET", "/v1/_ping"},
		{"GET", "/v3/"},
		{"GET", "/v2/acme/app"},
		{"GET", "/v2/acme/app/unknown/x"},
		{"GET", "/v2/ACME/manifests/latest"},         // upper case, and no domain: not the grammar
		{"GET", "/v2/acme//app/manifests/latest"},    // empty component
		{"GET", "/v2/acme/../app/manifests/latest"},  // dot segments
		{"GET", "/v2/acme/%2e%2e/manifests/latest"},  // escaped dot segments
		{"GET", "/v2/-acme/app/manifests/latest"},    // a component starts alphanumeric
		{"GET", "/v2/acme/app/manifests/"},           // no reference
		{"GET", "/v2/acme/app/manifests/la:test"},    // neither tag nor digest
		{"GET", "/v2/acme/app/blobs/latest"},         // a blob is a digest
		{"POST", "/v2/_catalog"},                     // the catalog is read-only
		{"PUT", "/v2/acme/app/tags/list"},            // tags are read-only
		{"DELETE", "/v2/acme/app/referrers/" + dgst}, // referrers are read-only
		{"OPTIONS", "/v2/acme/app/manifests/latest"}, // no such method in the API
		{"POST", "/v2/acme/app/blobs/uploads/?mount=" + dgst + "&from=UPPER"},
		{"GET", "/v2/" + strings.Repeat("a", 256) + "/manifests/latest"}, // over 255
		{"GET", "not a uri"},
	} {
		if a, err := gateway.Route(tt.method, tt.uri); !errors.Is(err, gateway.ErrNotRegistry) {
			t.Errorf("Route(%s %s) = %+v, %v; want ErrNotRegistry", tt.method, tt.uri, a, err)
		}
	}
}

func FuzzRoute(f *testing.F) {
	f.Add("GET", "/v2/acme/app/manifests/latest")
	f.Add("POST", "/v2/a/blobs/uploads/?mount="+dgst+"&from=b")
	f.Fuzz(func(t *testing.T, method, uri string) {
		a, err := gateway.Route(method, uri)
		if err != nil {
			return
		}
		for _, s := range a.Scopes {
			if _, err := scope.Parse(scope.Join([]scope.Scope{s})); err != nil {
				t.Errorf("Route(%q, %q) gave an unparsable scope %+v: %v", method, uri, s, err)
			}
		}
	})
}
