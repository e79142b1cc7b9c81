package gateway

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/tollgate/tollgate/pkg/scope"
)

// Access is what one registry request needs.
type Access struct {
	// Base is GET /v2/: the API version check, which needs only an
	// authenticated caller (clients send credentials after its challenge).
	Base   bool
	Scopes []scope.Scope // the scopes needed, each with its one action
	upload bool          // a blob upload (POST may carry mount and from)
}

// Errors of Route.
type routeError string

func (e routeError) Error() string { return string(e) }

// ErrNotRegistry: the request is not one of the distribution API's.
const ErrNotRegistry = routeError("not a request of the registry API (distribution spec)")

// The distribution API's routes (distribution registry/api/v2/routes.go,
// OCI distribution spec §3), in the order the registry tries them.
var (
	name   = `(` + reference.NameRegexp.String() + `)`
	digest = reference.DigestRegexp.String()
	tag    = reference.TagRegexp.String()

	routeTags     = regexp.MustCompile(`^/v2/` + name + `/tags/list$`)
	routeManifest = regexp.MustCompile(`^/v2/` + name + `/manifests/(?:` + tag + `|` + digest + `)$`)
	routeBlob     = regexp.MustCompile(`^/v2/` + name + `/blobs/` + digest + `$`)
	routeUploads  = regexp.MustCompile(`^/v2/` + name + `/blobs/uploads/(?:[a-zA-Z0-9-_.=]+)?$`)
	routeReferrer = regexp.MustCompile(`^/v2/` + name + `/referrers/` + digest + `$`)
)

// Route maps a registry request to the access it needs: the base check;
// registry:catalog:* for the catalog; for a repository's manifests, blobs,
// tags and referrers, pull to read (GET, HEAD) and push to write (POST,
// PUT, PATCH), delete to delete; an upload (any method) is a push, and a
// cross-repository mount (?mount=…&from=OTHER) also needs pull on OTHER.
// Anything else is ErrNotRegistry. Names follow the registry's grammar
// (distribution/reference) and length limit.
func Route(method, rawURI string) (Access, error) {
	u, err := url.ParseRequestURI(rawURI)
	if err != nil {
		return Access{}, ErrNotRegistry
	}
	p := u.EscapedPath()
	switch p {
	case "/v2", "/v2/":
		return Access{Base: true}, nil
	case "/v2/_catalog":
		if !reading(method) {
			return Access{}, ErrNotRegistry
		}
		return need("registry", "catalog", "*"), nil
	}
	if m := routeUploads.FindStringSubmatch(p); m != nil {
		return uploadAccess(method, m[1], u.Query())
	}
	for _, r := range []*regexp.Regexp{routeTags, routeManifest, routeBlob, routeReferrer} {
		m := r.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		if len(m[1]) > reference.NameTotalLengthMax {
			return Access{}, ErrNotRegistry
		}
		action := actionOf(method)
		if action == "" || (r != routeManifest && r != routeBlob && action != "pull") {
			return Access{}, ErrNotRegistry // tags and referrers are read-only
		}
		return need("repository", m[1], action), nil
	}
	return Access{}, ErrNotRegistry
}

// uploadAccess is a blob upload's: push, and pull on the repository a
// blob is mounted from.
func uploadAccess(method, repo string, q url.Values) (Access, error) {
	if len(repo) > reference.NameTotalLengthMax || actionOf(method) == "" {
		return Access{}, ErrNotRegistry
	}
	a := need("repository", repo, "push")
	a.upload = strings.EqualFold(method, http.MethodPost)
	if len(q["mount"]) > 1 || len(q["from"]) > 1 {
		return Access{}, ErrNotRegistry // one of each: no doubt which the registry reads
	}
	if q.Get("mount") == "" || q.Get("from") == "" {
		return a, nil
	}
	from := q.Get("from")
	if !validName(from) {
		return Access{}, ErrNotRegistry
	}
	if from != repo {
		a.Scopes = append(a.Scopes, scope.Scope{Type: "repository", Name: from, Actions: []string{"pull"}})
	}
	return a, nil
}

var anchoredName = regexp.MustCompile(`^` + reference.NameRegexp.String() + `$`)

func validName(s string) bool {
	return len(s) <= reference.NameTotalLengthMax && anchoredName.MatchString(s)
}

func need(typ, name, action string) Access {
	return Access{Scopes: []scope.Scope{{Type: typ, Name: name, Actions: []string{action}}}}
}

// actionOf is the repository action a method needs; "" for one the API
// does not use.
func actionOf(method string) string {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead:
		return "pull"
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return "push"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

func reading(method string) bool { return actionOf(method) == "pull" }
