package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/verify"
)

type denyAll struct{}

func (denyAll) Authenticate(context.Context, string, authn.Secret) (authn.Identity, error) {
	return authn.Identity{}, authn.ErrNoSuchUser
}

// denyWorkloads trusts no identity token (grant.Workloads).
type denyWorkloads struct{}

func (denyWorkloads) Verify(context.Context, string) (authn.Identity, error) {
	return authn.Identity{}, authn.ErrBadCredentials
}

// fullOptions sets the fields of Options that can switch a route on, so
// every optional route is mounted: fields added later that are pointers,
// funcs or bools are set generically (routes are only registered, never
// called); an interface left nil fails the test, naming the field to set
// here. Values (slices, structs, numbers) tune routes rather than add them;
// cmd/tollgate's test of the real wiring covers them too.
func fullOptions(t *testing.T) Options {
	t.Helper()
	o := Options{
		Grant:              &grant.Service{},
		Authn:              denyAll{},
		Logger:             slog.New(slog.DiscardHandler),
		Realm:              "tollgate",
		APITokens:          &apitoken.Tokens{},
		Passwords:          denyAll{},
		IntrospectionAuthn: denyAll{},
		Workloads:          denyWorkloads{},
		Discovery:          Discovery{Issuer: "tollgate", JWKS: func() []byte { return []byte(`{"keys":[]}`) }},
	}
	v := reflect.ValueOf(&o).Elem()
	for i := range v.NumField() {
		f, field := v.Field(i), v.Type().Field(i)
		if !field.IsExported() || !f.IsZero() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Func:
			f.Set(reflect.MakeFunc(f.Type(), func([]reflect.Value) []reflect.Value {
				out := make([]reflect.Value, f.Type().NumOut())
				for j := range out {
					out[j] = reflect.Zero(f.Type().Out(j))
				}
				return out
			}))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Interface:
			t.Errorf("Options.%s (%s) is not set in fullOptions: set it so the routes it enables are checked against openapi.json",
				field.Name, field.Type)
		}
	}
	return o
}

func TestAPIDocsCoverEveryRoute(t *testing.T) {
	h := New(fullOptions(t))
	served, prefixes := Routes(h), prefixRoutes(h)
	for i := range served {
		if prefixes[served[i].Path] {
			served[i].Path += "{file}"
		}
		served[i].Path = openAPIPath(served[i].Path)
	}
	documented, err := DocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	// The walk must see the routes we know exist, or it proves nothing.
	for _, want := range []Route{
		{Method: http.MethodGet, Path: "/oauth2/token"},
		{Method: http.MethodPost, Path: "/api/tokens/revoke"},
		{Method: http.MethodGet, Path: "/api-docs/openapi.json"},
		{Method: http.MethodGet, Path: "/metrics"},             // mounted only when Options.Metrics is set
		{Method: http.MethodGet, Path: "/auth/forward/{path}"}, // a mux pattern, {path:.*}, written as OpenAPI does
		{Method: http.MethodGet, Path: "/ui/static/{file}"},    // a PathPrefix, /ui/static/
	} {
		if !slices.Contains(served, want) {
			t.Errorf("Routes does not list %s; it found %v", want, served)
		}
	}
	for _, rt := range served {
		switch {
		case rt.Method == "":
			t.Errorf("route %s accepts every method: restrict it with .Methods(...) and document each", rt.Path)
		case !slices.Contains(documented, rt):
			t.Errorf("%s is served but not in server/apidocs/openapi.json: document it", rt)
		}
	}
	for _, rt := range documented {
		if !slices.Contains(served, rt) {
			t.Errorf("%s is documented in openapi.json but not served", rt)
		}
	}
}

// prefixRoutes lists the path templates of h's PathPrefix routes: those
// whose regexp mux leaves open at the end. OpenAPI cannot say "any path
// under", so the document writes such a route as its prefix and {file}.
func prefixRoutes(h http.Handler) map[string]bool {
	out := map[string]bool{}
	_ = h.(*routedHandler).router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		template, err := route.GetPathTemplate()
		re, reErr := route.GetPathRegexp()
		if err == nil && reErr == nil && !strings.HasSuffix(re, "$") {
			out[template] = true
		}
		return nil
	})
	return out
}

// openAPIPath writes a mux path template as OpenAPI does: a variable keeps
// its name and loses its pattern ({path:.*} is {path}).
func openAPIPath(template string) string {
	var b strings.Builder
	depth, pattern := 0, false
	for _, c := range template {
		switch {
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				pattern = false // the variable's own closing brace is written
			}
		case c == ':' && depth == 1:
			pattern = true
		}
		if !pattern {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func TestOpenAPIPath(t *testing.T) {
	for template, want := range map[string]string{
		"/api/tokens":                      "/api/tokens",
		"/api/users/{name}/disable":        "/api/users/{name}/disable",
		"/auth/forward/{path:.*}":          "/auth/forward/{path}",
		"/a/{id:[0-9]{3}}/b/{rest:[a-z]+}": "/a/{id}/b/{rest}",
	} {
		if got := openAPIPath(template); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", template, got, want)
		}
	}
}

func TestRoutesOfAnotherHandlerIsNil(t *testing.T) {
	if got := Routes(http.NotFoundHandler()); got != nil {
		t.Errorf("Routes(not from New) = %v, want nil", got)
	}
}

// openAPIDoc is the parsed document, with a resolver for local $refs.
type openAPIDoc map[string]any

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// resolve follows a local $ref, or returns obj.
func (d openAPIDoc) resolve(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	ref, ok := obj["$ref"].(string)
	if !ok {
		return obj
	}
	var cur any = map[string]any(d)
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("$ref %s does not resolve", ref)
		}
		cur = m[p]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("$ref %s does not resolve to an object", ref)
	}
	return m
}

func (d openAPIDoc) schema(t *testing.T, name string) map[string]any {
	t.Helper()
	return d.resolve(t, map[string]any{"$ref": "#/components/schemas/" + name})
}

func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.0\.\d+$`).MatchString(v) {
		t.Errorf(`openapi = %q, want "3.0.x"`, v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == "" || info["version"] == "" || info["title"] == nil || info["version"] == nil {
		t.Errorf("info needs title and version: %v", info)
	}

	// Every $ref anywhere resolves.
	var walk func(any)
	refs := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				refs++
				doc.resolve(t, v)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(map[string]any(doc))
	if refs == 0 {
		t.Error("found no $ref: the walk is broken")
	}

	tags := map[string]bool{}
	for _, tg := range doc["tags"].([]any) {
		tags[tg.(map[string]any)["name"].(string)] = true
	}
	ids := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	for path, item := range paths {
		for method, raw := range item.(map[string]any) {
			op := raw.(map[string]any)
			where := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q already used by %s", where, id, other)
			}
			ids[id] = where
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s: no summary", where)
			}
			opTags, _ := op["tags"].([]any)
			if len(opTags) == 0 || !tags[opTags[0].(string)] {
				t.Errorf("%s: first tag %v is not declared in tags", where, opTags)
			}
			if _, ok := op["security"]; !ok {
				t.Errorf("%s: say how it authenticates (security; [{}] for none)", where)
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for status, r := range responses {
				if !regexp.MustCompile(`^[1-5]\d\d$`).MatchString(status) {
					t.Errorf("%s: response %q is not a status code", where, status)
				}
				if d, _ := doc.resolve(t, r.(map[string]any))["description"].(string); d == "" {
					t.Errorf("%s %s: no description (required by OpenAPI)", where, status)
				}
			}
		}
	}
}

// jsonFields lists the JSON names of a struct's fields, flattening
// embedded structs as encoding/json does, and which are omitempty.
func jsonFields(typ reflect.Type) (names []string, omitempty map[string]bool) {
	omitempty = map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			sub, subOmit := jsonFields(f.Type)
			names = append(names, sub...)
			for k, v := range subOmit {
				omitempty[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		omitempty[name] = strings.Contains(opts, "omitempty")
	}
	slices.Sort(names)
	return names, omitempty
}

func stringSet(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k := range v {
			out = append(out, k)
		}
	case []any:
		for _, s := range v {
			out = append(out, s.(string))
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPISchemasMatchGoTypes keeps the hand-written schemas honest:
// their fields are the Go types' JSON fields, responses list as required
// exactly the fields that are always present, and requests refuse
// unknown fields as decodeJSONBody does.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	tests := []struct {
		schema  string
		typ     any
		request bool
	}{
		{"DockerTokenResponse", tokenResponse{}, false},
		{"OAuthTokenResponse", oauthTokenResponse{}, false},
		{"EngineTokenResponse", engineTokenResponse{}, false},
		{"IdentityClaim", verify.Identity{}, false},
		{"CreateTokenRequest", createRequest{}, true},
		{"CreateTokenResponse", createResponse{}, false},
		{"ListTokensRequest", listRequest{}, true},
		{"ListTokensResponse", listResponse{}, false},
		{"RevokeTokenRequest", revokeRequest{}, true},
		{"APIToken", tokenItem{}, false},
		{"Readiness", readyResponse{}, false},
		{"IntrospectionResponse", introspectResponse{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			s := doc.schema(t, tt.schema)
			fields, omit := jsonFields(reflect.TypeOf(tt.typ))
			if got := stringSet(s["properties"]); !slices.Equal(got, fields) {
				t.Errorf("properties %v, Go type %T has %v", got, tt.typ, fields)
			}
			if tt.request {
				if s["additionalProperties"] != false {
					t.Error("request schema must say additionalProperties: false (unknown fields are refused)")
				}
				return
			}
			var always []string
			for _, f := range fields {
				if !omit[f] {
					always = append(always, f)
				}
			}
			if got := stringSet(s["required"]); !slices.Equal(got, always) {
				t.Errorf("required %v, want the fields without omitempty %v", got, always)
			}
		})
	}
}

// TestOpenAPIDocumentsEveryGrant checks that the request body of each
// token endpoint has one variant per grant type its table can serve, every
// optional grant switched on, and no other.
func TestOpenAPIDocumentsEveryGrant(t *testing.T) {
	doc := loadOpenAPI(t)
	_, registry := grant.RegistryGrants(&grant.Service{}, denyAll{}, denyWorkloads{})
	eng := &engine.Service{Refresh: &refresh.Families{}, Registered: &client.Registry{}, Workloads: denyWorkloads{}}
	for _, tt := range []struct {
		path  string
		table grant.Table
	}{
		{"/oauth2/token", registry},
		{"/v1/oauth/token", eng.Grants(denyAll{})},
	} {
		t.Run(tt.path, func(t *testing.T) {
			op := doc["paths"].(map[string]any)[tt.path].(map[string]any)["post"].(map[string]any)
			form := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/x-www-form-urlencoded"].(map[string]any)
			schema := form["schema"].(map[string]any)
			var documented []string
			for _, v := range schema["oneOf"].([]any) {
				props, _ := doc.resolve(t, v.(map[string]any))["properties"].(map[string]any)
				gt, _ := props["grant_type"].(map[string]any)
				documented = append(documented, stringSet(gt["enum"])...)
			}
			slices.Sort(documented)
			served := slices.Sorted(slices.Values(tt.table.Names()))
			if !slices.Equal(documented, served) {
				t.Errorf("request variants have grant types %v, the endpoint serves %v", documented, served)
			}
			if d, ok := schema["discriminator"].(map[string]any); ok && !slices.Equal(stringSet(d["mapping"]), served) {
				t.Errorf("discriminator maps %v, the endpoint serves %v", stringSet(d["mapping"]), served)
			}
		})
	}
}

// TestOpenAPIErrorBodies renders the error bodies for real and checks them
// against the schemas, and checks that every error code the server's code
// writes is in the schema's enum.
func TestOpenAPIErrorBodies(t *testing.T) {
	doc := loadOpenAPI(t)
	rd := newRenderer(slog.New(slog.DiscardHandler), "tollgate")

	w := httptest.NewRecorder()
	rd.docker(w, DockerError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "m", Detail: "d"})
	var docker struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &docker); err != nil || len(docker.Errors) != 1 {
		t.Fatalf("docker body %s: %v", w.Body, err)
	}
	item := doc.schema(t, "DockerErrors")["properties"].(map[string]any)["errors"].(map[string]any)["items"].(map[string]any)
	if got, want := stringSet(map[string]any(docker.Errors[0])), stringSet(item["properties"]); !slices.Equal(got, want) {
		t.Errorf("Docker error item has fields %v, schema %v", got, want)
	}
	if w.Header().Get("WWW-Authenticate") == "" {
		t.Error("a 401 without WWW-Authenticate; the document promises one")
	}

	w = httptest.NewRecorder()
	rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "d"))
	var oauth map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &oauth); err != nil {
		t.Fatal(err)
	}
	oauthSchema := doc.schema(t, "OAuthError")
	if got, want := stringSet(oauth), stringSet(oauthSchema["properties"]); !slices.Equal(got, want) {
		t.Errorf("OAuth error has fields %v, schema %v", got, want)
	}

	// The codes the source writes: Code: "X" in DockerError literals,
	// badRequest and unauthorized, and oauthError(status, "x", ...).
	dockerEnum := stringSet(item["properties"].(map[string]any)["code"].(map[string]any)["enum"])
	oauthEnum := stringSet(oauthSchema["properties"].(map[string]any)["error"].(map[string]any)["enum"])
	dockerCode := regexp.MustCompile(`Code:\s*"([A-Z_]+)"`)
	oauthCode := regexp.MustCompile(`oauthError\([^,()]+,\s*"([a-z_]+)"`)
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		src, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dockerCode.FindAllStringSubmatch(string(src), -1) {
			seen++
			if !slices.Contains(dockerEnum, m[1]) {
				t.Errorf("%s writes Docker error code %s, missing from DockerErrors' enum", f.Name(), m[1])
			}
		}
		for _, m := range oauthCode.FindAllStringSubmatch(string(src), -1) {
			seen++
			if !slices.Contains(oauthEnum, m[1]) {
				t.Errorf("%s writes OAuth error %s, missing from OAuthError's enum", f.Name(), m[1])
			}
		}
	}
	if seen < 5 {
		t.Errorf("found only %d error codes in the source: the patterns are stale", seen)
	}
	for _, c := range []string{"INVALID_REQUEST", "UNAUTHORIZED"} { // via badRequest, unauthorized
		if !slices.Contains(dockerEnum, c) {
			t.Errorf("DockerErrors' enum lacks %s", c)
		}
	}
}

func TestAPIDocsServed(t *testing.T) {
	srv := httptest.NewServer(New(Options{Logger: slog.New(slog.DiscardHandler), Realm: "tollgate"}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}

	t.Run("document", func(t *testing.T) {
		resp, body := get(t, http.MethodGet, "/api-docs/openapi.json", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if body != string(OpenAPI()) {
			t.Error("served document differs from the embedded one")
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		resp, _ = get(t, http.MethodGet, "/api-docs/openapi.json", http.Header{"If-None-Match": {etag}})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match with the ETag: status %d, want 304", resp.StatusCode)
		}
	})
	t.Run("page", func(t *testing.T) {
		resp, body := get(t, http.MethodGet, "/api-docs/", nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		for _, ref := range []string{`src="apidocs.js"`, `href="apidocs.css"`, `href="openapi.json"`} {
			if !strings.Contains(body, ref) {
				t.Errorf("page lacks %s", ref)
			}
		}
		for path, ctype := range map[string]string{"/api-docs/apidocs.js": "text/javascript", "/api-docs/apidocs.css": "text/css"} {
			resp, body := get(t, http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
				t.Errorf("%s: status %d, Content-Type %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
			}
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := get(t, http.MethodGet, "/api-docs", nil)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "api-docs/" {
			t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("other files and methods", func(t *testing.T) {
		if resp, _ := get(t, http.MethodGet, "/api-docs/index.html", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /api-docs/index.html: status %d, want 404 (the page is /api-docs/)", resp.StatusCode)
		}
		if resp, _ := get(t, http.MethodPost, "/api-docs/openapi.json", nil); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: status %d, want 405", resp.StatusCode)
		}
	})
}

// TestAPIDocsOffline checks that the page loads nothing from elsewhere: no
// absolute or protocol-relative URL in any embedded asset but the document's
// own text.
func TestAPIDocsOffline(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	for name := range apiDocsFiles {
		if name == "openapi.json" {
			continue
		}
		b, err := apiDocs.ReadFile("apidocs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers to %q: the page must work offline", name, m)
		}
	}
	js, _ := apiDocs.ReadFile("apidocs/apidocs.js")
	if strings.Contains(string(js), "innerHTML") {
		t.Error("apidocs.js uses innerHTML; build nodes so text from the document stays text")
	}
}
