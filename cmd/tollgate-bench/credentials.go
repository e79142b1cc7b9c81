package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
)

// The registered client of the client_credentials scenario.
const (
	benchClient   = "bench-svc"
	benchAudience = "svc-b"
	benchScope    = "reports:read"
)

// credentials are what a scenario's requests present besides the bench
// user's password, prepared on the running server before the load.
type credentials struct {
	apiToken     string // tg_…, from POST /api/tokens
	refreshToken string // from GET /oauth2/token?offline_token=true
	clientSecret string // from `tollgate clients add`, before the server starts
}

// createAPIToken asks POST /api/tokens for a read token of the bench user.
func createAPIToken(base, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": benchUser, "password": password, "role": "read"})
	var out struct {
		Token string `json:"token"`
	}
	err := askJSON(http.MethodPost, base+"/api/tokens", "application/json", body, "", "", &out)
	if err == nil && out.Token == "" {
		err = fmt.Errorf("POST /api/tokens: no token in the answer")
	}
	return out.Token, err
}

// fetchRefreshToken logs the bench user in with offline_token=true.
func fetchRefreshToken(base, password string) (string, error) {
	q := url.Values{"service": {service}, "offline_token": {"true"}}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	err := askJSON(http.MethodGet, base+"/oauth2/token?"+q.Encode(), "", nil, benchUser, password, &out)
	if err == nil && out.RefreshToken == "" {
		err = fmt.Errorf("GET /oauth2/token?offline_token=true: no refresh_token in the answer")
	}
	return out.RefreshToken, err
}

// askJSON sends one request and decodes a 200 answer into out.
func askJSON(method, u, contentType string, body []byte, user, pass string, out any) error {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, req.URL.Path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// registerClient runs `tollgate clients add` on the server's
// configuration (so in its store) and returns the generated secret.
func registerClient(bin, configPath string) (string, error) {
	cmd := exec.Command(bin, "--config", configPath, "clients", "add", benchClient,
		"--audience", benchAudience, "--scope", benchScope)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tollgate clients add: %w: %s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if secret, ok := strings.CutPrefix(sc.Text(), "client_secret: "); ok {
			return secret, nil
		}
	}
	return "", fmt.Errorf("tollgate clients add printed no client_secret: %s", out)
}
