package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/redact"
	"github.com/tollgate/tollgate/pkg/store"
)

// DockerError is an error on the registry-facing token endpoint, rendered
// as {"errors":[{"code","message","detail"}]} (distribution's errcode body).
type DockerError struct {
	Status  int
	Code    string // UNAUTHORIZED, INVALID_REQUEST, ...
	Message string
	Detail  string
}

// OAuthError is an RFC 6749 §5.2 error.
type OAuthError struct {
	Status      int
	Code        string // invalid_request, invalid_grant, ...
	Description string
}

func (e DockerError) Error() string { return e.Code + ": " + e.Message }

func (e OAuthError) Error() string { return e.Code + ": " + e.Description }

func badRequest(message, detail string) DockerError {
	return DockerError{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: message, Detail: detail}
}

func unauthorized(message string) DockerError {
	return DockerError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: message}
}

func oauthError(status int, code, description string) OAuthError {
	return OAuthError{Status: status, Code: code, Description: description}
}

// renderer writes errors. It is the one place errors become HTTP.
type renderer struct {
	logger    *slog.Logger
	challenge string // WWW-Authenticate value of 401 answers
}

func newRenderer(logger *slog.Logger, realm string) renderer {
	quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm)
	return renderer{logger: logger, challenge: `Basic realm="` + quoted + `"`}
}

// docker writes a Docker error body; a 401 carries a Basic challenge.
func (rd renderer) docker(w http.ResponseWriter, e DockerError) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", rd.challenge)
	}
	item := map[string]any{"code": e.Code, "message": e.Message}
	if e.Detail != "" {
		item["detail"] = e.Detail
	}
	writeJSON(w, e.Status, map[string]any{"errors": []any{item}})
}

// oauth writes an RFC 6749 §5.2 body with Cache-Control: no-store.
func (rd renderer) oauth(w http.ResponseWriter, e OAuthError) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	writeJSON(w, e.Status, body)
}

// internalDocker logs err with the request ID and answers a generic 500.
func (rd renderer) internalDocker(w http.ResponseWriter, r *http.Request, err error) {
	rd.logInternal(r, err)
	rd.docker(w, DockerError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "internal server error"})
}

// internalOAuth logs err and answers server_error.
func (rd renderer) internalOAuth(w http.ResponseWriter, r *http.Request, err error) {
	rd.logInternal(r, err)
	rd.oauth(w, oauthError(http.StatusInternalServerError, "server_error", "internal server error"))
}

// storeRetryAfter is the Retry-After of a 503 for a store that is away:
// replicas reconnect within a second of its return. backendRetryAfter is
// that of an identity backend that does not answer (a token issuer, a
// directory), which is asked again at most every few seconds.
const (
	storeRetryAfter   = "1"
	backendRetryAfter = "10"
)

// unavailable reports whether err says the store or an identity backend
// is away (503).
func unavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, authn.ErrUnavailable)
}

// unavailableAnswer sets the Retry-After of a 503 for err and returns
// what to tell the client.
func unavailableAnswer(w http.ResponseWriter, err error) string {
	if errors.Is(err, authn.ErrUnavailable) {
		w.Header().Set("Retry-After", backendRetryAfter)
		return "the identity provider does not answer; retry shortly"
	}
	w.Header().Set("Retry-After", storeRetryAfter)
	return "the credential store does not answer; retry shortly"
}

// storeOrInternalDocker answers 503 UNAVAILABLE with Retry-After when err
// says the store is away, else a generic 500.
func (rd renderer) storeOrInternalDocker(w http.ResponseWriter, r *http.Request, err error) {
	if !unavailable(err) {
		rd.internalDocker(w, r, err)
		return
	}
	rd.logUnavailable(r, err)
	detail := unavailableAnswer(w, err)
	rd.docker(w, DockerError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE",
		Message: "service unavailable", Detail: detail})
}

// storeOrInternalOAuth answers 503 temporarily_unavailable (RFC 6749
// §4.1.2.1) with Retry-After when err says the store is away, else
// server_error.
func (rd renderer) storeOrInternalOAuth(w http.ResponseWriter, r *http.Request, err error) {
	if !unavailable(err) {
		rd.internalOAuth(w, r, err)
		return
	}
	rd.logUnavailable(r, err)
	rd.oauth(w, oauthError(http.StatusServiceUnavailable, "temporarily_unavailable", unavailableAnswer(w, err)))
}

func (rd renderer) logUnavailable(r *http.Request, err error) {
	rd.logger.WarnContext(r.Context(), "unavailable", "request_id", requestID(r.Context()),
		"method", r.Method, "path", r.URL.Path, "error", redact.Secrets(err.Error()))
}

// logInternal logs err; an error may quote what the caller gave (htpasswd's
// quote the user name), so secrets pasted there are redacted.
func (rd renderer) logInternal(r *http.Request, err error) {
	rd.logger.ErrorContext(r.Context(), "internal error", "request_id", requestID(r.Context()),
		"method", r.Method, "path", r.URL.Path, "error", redact.Secrets(err.Error()))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// dockerFailure writes a refused or failed token request in the registry's
// error format (distribution errcode): the one Docker error writer of the
// token pipeline.
func (rd renderer) dockerFailure(w http.ResponseWriter, r *http.Request, err error) {
	var d DockerError
	if errors.As(err, &d) {
		rd.docker(w, d)
		return
	}
	e, ok := grant.AsError(err)
	if !ok {
		rd.storeOrInternalDocker(w, r, err)
		return
	}
	switch {
	case errors.Is(e.Code, grant.ErrTooManyFailures):
		rd.tooManyDocker(w, e.RetryAfter)
	case errors.Is(e.Code, oautherrors.ErrInvalidGrant), errors.Is(e.Code, oautherrors.ErrInvalidClient):
		rd.docker(w, unauthorized(e.Message))
	default:
		rd.docker(w, badRequest(e.Message, e.Detail))
	}
}

// oauthFailure writes a refused or failed token request in RFC 6749 §5.2's
// format: the one OAuth2 error writer of the token pipeline.
func (rd renderer) oauthFailure(w http.ResponseWriter, r *http.Request, err error) {
	var o OAuthError
	if errors.As(err, &o) {
		rd.oauth(w, o)
		return
	}
	e, ok := grant.AsError(err)
	if !ok {
		rd.storeOrInternalOAuth(w, r, err)
		return
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errFormTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(e.Code, grant.ErrTooManyFailures):
		rd.tooManyOAuth(w, e.RetryAfter)
		return
	case errors.Is(e.Code, oautherrors.ErrInvalidClient):
		// RFC 6749 §5.2: 401 with the scheme the client may use.
		w.Header().Set("WWW-Authenticate", rd.challenge)
		status = http.StatusUnauthorized
	}
	rd.oauth(w, oauthError(status, e.Code.Error(), e.Description()))
}

// writeToken writes a token response: never cached (RFC 6749 §5.1).
func writeToken(w http.ResponseWriter, body any) {
	w.Header().Set("Pragma", "no-cache")
	writePrivate(w, http.StatusOK, body)
}

// writePrivate writes an answer about credentials or accounts, which no
// cache may keep.
func writePrivate(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, body)
}
