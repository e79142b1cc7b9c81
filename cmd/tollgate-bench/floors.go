package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/pkg/verify"
)

// floorEnv carries a floor's specification (JSON) to the child process
// that serves it: this program, run again. Not TOLLGATE_*: tollgate
// refuses variables of its prefix that name no configuration key.
const floorEnv = "TGBENCH_FLOOR"

// Floor kinds.
const (
	floorHTTP = "http" // a fixed, token-sized body
	floorSign = "sign" // decode Basic auth, sign an equivalent JWT
)

// floorSpec is what a floor child serves.
type floorSpec struct {
	Kind string `json:"kind"`
	Alg  string `json:"alg"`  // of the key; the http floor signs once, for its body's size
	Key  string `json:"key"`  // private key file (PKCS#8 PEM, as keys.WriteDev writes it)
	Addr string `json:"addr"` // where to listen
}

// floorArgs returns the command line and environment that start spec in
// a child process.
func floorArgs(spec floorSpec) (argv, env []string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	return []string{self}, []string{floorEnv + "=" + string(b)}, nil
}

// serveFloorIfChild serves a floor and returns true when this process was
// started as one; it returns false at once otherwise.
func serveFloorIfChild() (bool, error) {
	raw := os.Getenv(floorEnv)
	if raw == "" {
		return false, nil
	}
	var spec floorSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return true, fmt.Errorf("%s: %w", floorEnv, err)
	}
	return true, serveFloor(spec)
}

// serveFloor serves spec until SIGTERM.
func serveFloor(spec floorSpec) error {
	s, err := newSigner(spec.Alg, spec.Key)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	switch spec.Kind {
	case floorHTTP:
		body, err := s.response(benchUser, "repository:"+benchRepo+":pull")
		if err != nil {
			return err
		}
		mux.HandleFunc("GET /oauth2/token", fixedBody(body))
	case floorSign:
		mux.HandleFunc("GET /oauth2/token", s.handle)
	default:
		return fmt.Errorf("floor kind %q", spec.Kind)
	}
	return serveUntilTerm(&http.Server{Addr: spec.Addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second})
}

func serveUntilTerm(srv *http.Server) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fixedBody answers every request with body, as JSON.
func fixedBody(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// signer signs registry-token-shaped JWTs with golang-jwt and nothing else.
type signer struct {
	method jwt.SigningMethod
	key    crypto.Signer
	kid    string
}

func newSigner(alg, path string) (*signer, error) {
	k, err := keys.Load(path, "", keys.Options{Algorithm: alg}) // for the kid only
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return &signer{method: jwt.GetSigningMethod(alg), key: key, kid: k.ID()}, nil
}

// handle is the sign floor: Basic auth decoded (not checked), one JWT.
func (s *signer) handle(w http.ResponseWriter, r *http.Request) {
	user, _, ok := r.BasicAuth()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, err := s.response(user, r.URL.Query().Get("scope"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// floorAccountID stands in for an account's UUID in the identity claim.
const floorAccountID = "00000000-0000-4000-8000-000000000000"

// response is a token response for user and one "type:name:actions"
// scope, with the claims of a Tollgate registry token.
func (s *signer) response(user, scope string) ([]byte, error) {
	now := time.Now().Truncate(time.Second)
	var jti [16]byte
	rand.Read(jti[:])
	typ, rest, _ := strings.Cut(scope, ":")
	name, actions, _ := strings.Cut(rest, ":")
	claims := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: user, Audience: jwt.ClaimStrings{service},
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Access:   []token.Access{{Type: typ, Name: name, Actions: strings.Split(actions, ",")}},
		Identity: &verify.Identity{Kind: verify.KindUser, ID: floorAccountID, Name: user, Source: "htpasswd"},
	}
	t := jwt.NewWithClaims(s.method, claims)
	t.Header["kid"] = s.kid
	raw, err := t.SignedString(s.key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"token": raw, "access_token": raw, "expires_in": 300,
		"issued_at": now.UTC().Format(time.RFC3339)})
}
