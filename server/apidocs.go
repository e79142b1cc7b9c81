package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// apiDocs holds the OpenAPI 3.0 document of every endpoint and the small
// page that renders it. Everything is embedded: the page works offline and
// loads nothing from elsewhere.
//
//go:embed apidocs
var apiDocs embed.FS

// apiDocsFiles are what /api-docs/ serves, by name under apidocs/, with
// their media types.
var apiDocsFiles = map[string]string{
	"index.html":   "text/html; charset=utf-8",
	"openapi.json": "application/json",
	"apidocs.js":   "text/javascript; charset=utf-8",
	"apidocs.css":  "text/css; charset=utf-8",
}

// apiDocsCSP lets the page run only its own script and style and fetch only
// its own document.
const apiDocsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// OpenAPI returns the OpenAPI 3.0 document (JSON) served at
// /api-docs/openapi.json.
func OpenAPI() []byte {
	b, err := apiDocs.ReadFile("apidocs/openapi.json")
	if err != nil {
		panic("server: openapi.json is not embedded: " + err.Error()) // a build error, not a runtime one
	}
	return b
}

// mountAPIDocs registers GET /api-docs (a redirect), /api-docs/ (the page)
// and its files, /api-docs/openapi.json among them.
func mountAPIDocs(r *mux.Router) {
	r.HandleFunc("/api-docs", func(w http.ResponseWriter, _ *http.Request) {
		// Relative, so it still works behind a proxy that strips a prefix.
		w.Header().Set("Location", "api-docs/")
		w.WriteHeader(http.StatusMovedPermanently)
	}).Methods(http.MethodGet)
	for name, mediaType := range apiDocsFiles {
		path := "/api-docs/" + name
		if name == "index.html" {
			path = "/api-docs/"
		}
		r.Handle(path, staticFile(name, mediaType)).Methods(http.MethodGet)
	}
}

// staticFile serves one embedded file with a strong ETag (its content never
// changes within a build), so browsers revalidate cheaply.
func staticFile(name, mediaType string) http.Handler {
	body, err := apiDocs.ReadFile("apidocs/" + name)
	if err != nil {
		panic("server: apidocs/" + name + " is not embedded: " + err.Error())
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", mediaType)
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache") // revalidate: a new build serves new docs
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(mediaType, "text/html") {
			h.Set("Content-Security-Policy", apiDocsCSP)
			h.Set("Referrer-Policy", "no-referrer")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// Route is one method and path template that a handler serves.
type Route struct {
	Method string // "" when the route accepts every method
	Path   string // mux path template, e.g. /api/tokens/list
}

func (r Route) String() string {
	m := r.Method
	if m == "" {
		m = "ANY"
	}
	return m + " " + r.Path
}

// routedHandler is the handler New returns: the middleware chain, plus the
// router behind it so that Routes can list what it serves.
type routedHandler struct {
	http.Handler
	router *mux.Router
}

// Routes lists, sorted, the routes a handler built by New serves; nil for
// any other handler. Tests compare it with DocumentedRoutes.
func Routes(h http.Handler) []Route {
	rh, ok := h.(*routedHandler)
	if !ok {
		return nil
	}
	var out []Route
	_ = rh.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return nil // no path (a subrouter's host matcher, say): its children are walked
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{""}
		}
		for _, m := range methods {
			out = append(out, Route{Method: m, Path: path})
		}
		return nil
	})
	sortRoutes(out)
	return slices.Compact(out)
}

// DocumentedRoutes lists, sorted, the operations of the OpenAPI document.
func DocumentedRoutes() ([]Route, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var out []Route
	for path, item := range doc.Paths {
		for key := range item {
			switch key { // the fixed fields of a Path Item that are operations (OpenAPI 3.0.3 §4.7.9)
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, Route{Method: strings.ToUpper(key), Path: path})
			}
		}
	}
	sortRoutes(out)
	return out, nil
}

func sortRoutes(rs []Route) {
	slices.SortFunc(rs, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
}
