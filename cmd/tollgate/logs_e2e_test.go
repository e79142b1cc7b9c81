package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// logUsers have passwords distinctive enough that a leak is found by a
// plain substring search.
var logUsers = map[string]string{
	"admin": "admin-Logs-8c41e07b",
	"alice": "alice-Logs-2f9d6a13",
	"bob":   "bob-Logs-e5b7c390",
}

// secretLog runs the real app through serve with the production logger and
// remembers every secret a client sent or received, to grep the log for.
type secretLog struct {
	*e2etest.Client
	logs    *logtest.Buffer
	secrets []string
}

func (s *secretLog) remember(vals ...string) {
	for _, v := range vals {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
}

// call sends req, remembering its Authorization header, and decodes the
// JSON answer, remembering every token in it.
func (s *secretLog) call(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	if h := req.Header.Get("Authorization"); h != "" {
		_, cred, _ := strings.Cut(h, " ")
		s.remember(h, cred)
	}
	status, m := s.Do(t, req)
	for _, k := range []string{"token", "access_token", "refresh_token"} {
		if v, _ := m[k].(string); v != "" {
			s.remember(v)
			if parts := strings.Split(v, "."); len(parts) == 3 {
				s.remember(parts[1], parts[2]) // a JWT's claims or signature alone is a leak too
			}
		}
	}
	return status, m
}

func (s *secretLog) get(t *testing.T, query string, user, password string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Base()+"/oauth2/token?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
		s.remember(password)
	}
	return s.call(t, req)
}

func (s *secretLog) post(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	s.remember(form.Get("password"), form.Get("refresh_token"))
	req, err := http.NewRequest(http.MethodPost, s.Base()+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.call(t, req)
}

func (s *secretLog) api(t *testing.T, path string, body map[string]any, bearer string) (int, map[string]any) {
	t.Helper()
	if pw, _ := body["password"].(string); pw != "" {
		s.remember(pw)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.Base()+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return s.call(t, req)
}

func expectStatus(t *testing.T, what string, status, wantStatus int, body map[string]any) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %v", what, status, wantStatus, body)
	}
}

// TestLogsHoldNoSecretsEndToEnd runs the whole app (serve, with the logger
// `tollgate serve` builds from the configuration, at debug level) through
// every way a secret reaches it: passwords in Basic headers, form bodies
// and JSON bodies, API tokens as passwords and as Bearer, refresh tokens,
// wrong and malformed credentials, a password misplaced in a query string.
// Then it greps the whole log, start-up and shutdown included, and the
// /metrics page, for every password, token, JWT part and Authorization
// header value the test sent or received.
func TestLogsHoldNoSecretsEndToEnd(t *testing.T) {
	clearTollgateEnv(t)
	dir := t.TempDir()
	key, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), logUsers)
	cfg := loadE2EConfig(t, dir) // log: {level: debug, format: json}
	cfg.Users.Admins = []string{"admin"}
	enableEngine(t, cfg, dir)

	s := &secretLog{logs: &logtest.Buffer{}}
	addr, stop := serveOnLoopback(t, cfg, newLogger(cfg.Log, s.logs))
	s.Client = e2etest.NewClient(t, addr, 30*time.Second)
	s.WaitServing(t) // serve builds the app after the listener exists

	q := "service=" + e2eService + "&scope=repository:alice/app:pull,push"
	// GET with Basic: granted, offline (a refresh token), wrong password,
	// unknown user, malformed header, and a password in the query string.
	st, m := s.get(t, q, "alice", logUsers["alice"])
	expectStatus(t, "GET alice", st, http.StatusOK, m)
	st, m = s.get(t, q+"&offline_token=true&client_id=docker", "bob", logUsers["bob"])
	expectStatus(t, "GET bob offline", st, http.StatusOK, m)
	bobRefresh, _ := m["refresh_token"].(string)
	st, m = s.get(t, q, "alice", "wrong-Pass-7a3e51c9")
	expectStatus(t, "GET wrong password", st, http.StatusUnauthorized, m)
	st, m = s.get(t, q, "mallory", "mallory-Pass-0b8f2d64")
	expectStatus(t, "GET unknown user", st, http.StatusUnauthorized, m)
	req, _ := http.NewRequest(http.MethodGet, s.Base()+"/oauth2/token?"+q, nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("nocolon-Pass-91c2")))
	s.remember("nocolon-Pass-91c2")
	st, m = s.call(t, req)
	expectStatus(t, "GET malformed Basic", st, http.StatusUnauthorized, m)
	s.remember("query-Pass-4d7e0a18")
	st, m = s.get(t, q+"&password=query-Pass-4d7e0a18", "", "")
	expectStatus(t, "GET anonymous with a password in the query", st, http.StatusOK, m)

	// POST: password grant (offline), refresh grant, bad password, bad
	// refresh token.
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {logUsers["alice"]},
		"client_id": {"docker"}, "service": {e2eService}, "scope": {"repository:alice/app:pull"}, "access_type": {"offline"}}
	st, m = s.post(t, form)
	expectStatus(t, "POST password", st, http.StatusOK, m)
	aliceRefresh, _ := m["refresh_token"].(string)
	for user, rt := range map[string]string{"alice": aliceRefresh, "bob": bobRefresh} {
		st, m = s.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"oras-go"},
			"service": {e2eService}, "scope": {"repository:" + user + "/app:pull"}})
		expectStatus(t, "POST refresh_token", st, http.StatusOK, m)
	}
	form.Set("password", "wrong-Pass-c61f93e2")
	st, m = s.post(t, form)
	expectStatus(t, "POST wrong password", st, http.StatusBadRequest, m)
	st, m = s.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"tgr_notReal0123456789abcdefABCDEF"},
		"client_id": {"docker"}, "service": {e2eService}})
	expectStatus(t, "POST bad refresh token", st, http.StatusBadRequest, m)

	// API tokens: created with a password in the JSON body, used as a Basic
	// password, as the password grant's password and as Bearer, then
	// revoked and refused.
	st, m = s.api(t, "/api/tokens", map[string]any{"username": "alice", "password": logUsers["alice"], "role": "write"}, "")
	expectStatus(t, "create API token", st, http.StatusOK, m)
	tok, _ := m["token"].(string)
	prefix, _ := m["hash_prefix"].(string)
	if !apitoken.LooksLike(tok) {
		t.Fatalf("created token %.6s... is not an API token", tok)
	}
	st, m = s.api(t, "/api/tokens", map[string]any{"username": "admin", "password": logUsers["admin"], "role": "admin"}, "")
	expectStatus(t, "create admin token", st, http.StatusOK, m)
	adminTok, _ := m["token"].(string)
	st, m = s.get(t, q, apitoken.Username, tok)
	expectStatus(t, "GET with the API token", st, http.StatusOK, m)
	st, m = s.post(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {tok},
		"client_id": {"docker"}, "service": {e2eService}, "scope": {"repository:alice/app:push"}})
	expectStatus(t, "POST password grant with the API token", st, http.StatusOK, m)
	st, m = s.api(t, "/api/tokens/list", map[string]any{}, tok)
	expectStatus(t, "list with Bearer", st, http.StatusOK, m)
	st, m = s.api(t, "/api/tokens/list", map[string]any{}, adminTok)
	expectStatus(t, "list all with an admin Bearer", st, http.StatusOK, m)
	st, m = s.api(t, "/api/tokens/list", map[string]any{"username": "alice", "password": "wrong-Pass-35d0b7aa"}, "")
	expectStatus(t, "list with a wrong password", st, http.StatusUnauthorized, m)
	st, m = s.api(t, "/api/tokens/revoke", map[string]any{"hash_prefix": prefix}, tok)
	expectStatus(t, "revoke with Bearer", st, http.StatusOK, m)
	st, m = s.get(t, q, apitoken.Username, tok)
	expectStatus(t, "GET with the revoked token", st, http.StatusUnauthorized, m)
	st, m = s.api(t, "/api/tokens/list", map[string]any{}, tok)
	expectStatus(t, "list with the revoked token", st, http.StatusUnauthorized, m)
	unknown := apitoken.Generate()
	st, m = s.get(t, q, apitoken.Username, unknown)
	expectStatus(t, "GET with an unknown token", st, http.StatusUnauthorized, m)
	// API tokens pasted where the user name goes.
	audited := s.misplacedTokens(t, q)

	// The operations endpoints, and /metrics after all of the above.
	metricsPage := ""
	for _, p := range []string{"/health", "/ready", "/metrics"} {
		resp, err := s.HTTP.Get(s.Base() + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", p, resp.StatusCode, body)
		}
		if p == "/metrics" {
			metricsPage = string(body)
		}
	}
	for _, line := range []string{
		`tollgate_tokens_issued_total{grant_type="refresh_token",result="granted"} 2`,
		fmt.Sprintf(`tollgate_signing_key_info{alg="ES256",kid=%q} 1`, key.ID()),
		// The key has a certificate: its creation time is the NotBefore.
		fmt.Sprintf(`tollgate_signing_key_created_timestamp_seconds %s`,
			strconv.FormatFloat(float64(key.Chain()[0].NotBefore.Unix()), 'g', -1, 64)),
	} {
		if !strings.Contains(metricsPage, line+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", line, metricsPage)
		}
	}
	stop() // the shutdown lines are part of the log

	logs := s.logs.String()
	// The grep would prove nothing over an empty or foreign log.
	for _, want := range []string{`"msg":"tollgate listening"`, `"msg":"request"`, `"route":"/oauth2/token"`,
		`"subject":"alice"`, `"subject":"bob"`, `"msg":"shutting down"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if len(s.secrets) < 40 {
		t.Fatalf("only %d secrets collected: the flows above did not run", len(s.secrets))
	}
	auditRows := readAudit(t, cfg.Store.Path)
	// Failed logins are one row per address and minute: the misplaced
	// tokens refused by the token endpoints are named there as (redacted).
	if n := redactedDenials(auditRows); audited > 0 && n == 0 {
		t.Errorf("no token.denied audit row names a (redacted) user, want the %d misplaced tokens refused by a token endpoint",
			audited)
	}
	for _, row := range auditRows {
		text := fmt.Sprintf("%+v", row)
		for _, secret := range s.secrets {
			if strings.Contains(text, secret) {
				t.Errorf("audit row %d (%s) holds a secret: %.10s…", row.ID, row.Kind, secret)
			}
		}
	}
	for name, text := range map[string]string{"log": logs, "/metrics": metricsPage} {
		for _, secret := range s.secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds a secret: %.10s…", name, secret)
			}
		}
		// The signing key's ID is random base64url: it may hold "eyJ" by
		// chance (about once in 6000 keys), and it is no secret.
		text = strings.ReplaceAll(text, key.ID(), "<kid>")
		for _, pattern := range []*regexp.Regexp{
			regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`), // a JWT header or claims
			regexp.MustCompile(`tgr_[A-Za-z0-9_-]{10,}`),
			regexp.MustCompile(`tg_[0-9A-Za-z]{49}`),
			regexp.MustCompile(`(?i)(basic|bearer) [A-Za-z0-9+/=_-]{8,}`),
		} {
			if loc := pattern.FindString(text); loc != "" {
				t.Errorf("the %s holds something shaped like a secret: %.12s…", name, loc)
			}
		}
	}
}

// enableEngine turns the Engine API on in cfg (HS256 over a secret file
// in dir), so that its token endpoint and client_credentials are exercised.
func enableEngine(t *testing.T, cfg *config.Config, dir string) {
	t.Helper()
	secretPath := filepath.Join(dir, "engine.secret")
	if err := os.WriteFile(secretPath, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Engine = config.Engine{Enabled: true, Issuer: "anchore-engine", Expiration: time.Hour, Signing: "hmac",
		HMACSecretFile: secretPath, PublicClients: []string{"anonymous"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// misplacedTokens sends well-formed API tokens where a user name goes, the
// common paste mistake: as the Basic user of GET /oauth2/token (with a
// password, and with the token as the password too), of the engine's
// empty-body grant, of /v1/account and of /oauth2/introspect; as the
// username of both password grants and of the API-token JSON; as the
// client_id of client_credentials. Each is refused, and the tokens are
// remembered as secrets. It returns how many refusals are audited (those
// of the token endpoints).
func (s *secretLog) misplacedTokens(t *testing.T, query string) (audited int) {
	t.Helper()
	next := func() string {
		tok := apitoken.Generate()
		s.remember(tok)
		return tok
	}
	// send sends one request; audit says its refusal is audited.
	send := func(what string, audit bool, method, path, contentType, body string, user, password string, want int) {
		t.Helper()
		if audit {
			audited++
		}
		req, err := http.NewRequest(method, s.Base()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		st, m := s.call(t, req)
		expectStatus(t, what, st, want, m)
	}
	const formType = "application/x-www-form-urlencoded"
	send("GET, a token as the user", true, http.MethodGet, "/oauth2/token?"+query, "", "", next(), "wrong-Pass-5e1c9a07", http.StatusUnauthorized)
	tok := next()
	send("GET, a token as user and password", true, http.MethodGet, "/oauth2/token?"+query, "", "", tok, tok, http.StatusUnauthorized)
	form := url.Values{"grant_type": {"password"}, "username": {next()}, "password": {"wrong-Pass-5e1c9a07"},
		"client_id": {"docker"}, "service": {e2eService}}
	send("POST password grant, a token as the username", true, http.MethodPost, "/oauth2/token", formType, form.Encode(), "", "", http.StatusBadRequest)
	form = url.Values{"grant_type": {"password"}, "username": {next()}, "password": {"wrong-Pass-5e1c9a07"}, "client_id": {"anonymous"}}
	send("engine password grant, a token as the username", true, http.MethodPost, "/v1/oauth/token", formType, form.Encode(), "", "", http.StatusBadRequest)
	send("engine Basic grant, a token as the user", true, http.MethodPost, "/v1/oauth/token", "", "", next(), "wrong-Pass-5e1c9a07", http.StatusBadRequest)
	form = url.Values{"grant_type": {"client_credentials"}}
	send("client_credentials, a token as the client", true, http.MethodPost, "/v1/oauth/token", formType, form.Encode(), next(), "wrong-Secret-7d02b4e1", http.StatusUnauthorized)
	body := fmt.Sprintf(`{"username":%q,"password":"wrong-Pass-5e1c9a07"}`, next())
	send("API token create, a token as the username", false, http.MethodPost, "/api/tokens", "application/json", body, "", "", http.StatusUnauthorized)
	send("account, a token as the user", false, http.MethodGet, "/v1/account", "", "", next(), "wrong-Pass-5e1c9a07", http.StatusUnauthorized)
	send("introspect, a token as the user", false, http.MethodPost, "/oauth2/introspect", formType, "token=x", next(), "wrong-Pass-5e1c9a07", http.StatusUnauthorized)
	return audited
}

// readAudit reads every audit row of the SQLite store at path (after the
// server has stopped and written its queue).
func readAudit(t *testing.T, path string) []store.AuditEvent {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListAudit(context.Background(), 0, time.Time{}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// redactedDenials counts the token.denied rows whose subject was redacted.
func redactedDenials(rows []store.AuditEvent) int {
	n := 0
	for _, row := range rows {
		if row.Kind == audit.TokenDenied && (row.Subject == "(redacted)" || strings.Contains(row.Detail, "(redacted)")) {
			n++
		}
	}
	return n
}

// TestKeyCreated: a key file records no creation time; the certificate's
// NotBefore stands for it, else the file's modification time.
func TestKeyCreated(t *testing.T) {
	dir := t.TempDir()
	withCert, err := keys.WriteDev(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.crt"), keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keyCreated(withCert, filepath.Join(dir, "a.pem")), withCert.Chain()[0].NotBefore; !got.Equal(want) {
		t.Errorf("with a certificate: %v, want its NotBefore %v", got, want)
	}
	bare, err := keys.WriteDev(filepath.Join(dir, "b.pem"), "", keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "b.pem"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if got := keyCreated(bare, filepath.Join(dir, "b.pem")); !got.Equal(mtime) {
		t.Errorf("without a certificate: %v, want the file's mtime %v", got, mtime)
	}
	if got := keyCreated(bare, filepath.Join(dir, "gone.pem")); !got.IsZero() {
		t.Errorf("unreadable file: %v, want the zero time", got)
	}
}
