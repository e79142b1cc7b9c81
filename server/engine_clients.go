package server

import (
	"net/http"
	"net/url"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/grant"
)

// A client_credentials request without client credentials, or with them
// twice (RFC 6749 §2.3: one method only).
var (
	errNoClientAuth = &grant.Error{Code: oautherrors.ErrInvalidClient, Message: "client authentication failed",
		Detail: "client authentication required: HTTP Basic or client_id and client_secret"}
	errTwoClientAuth = grant.Invalid("authenticate the client either with HTTP Basic or in the form, not both", "")
)

// confidentialClient reads the client's credentials, for go-oauth2: HTTP
// Basic (RFC 6749 §2.3.1, form-urlencoded ID and secret) or the form's
// client_id and client_secret, never both.
func confidentialClient(r *http.Request) (string, string, error) {
	basicID, basicSecret, basic := r.BasicAuth()
	formID, formSecret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	if basic && formSecret != "" {
		return "", "", errTwoClientAuth
	}
	if basic {
		if formID != "" && formID != formDecoded(basicID) {
			return "", "", errTwoClientAuth
		}
		formID, formSecret = formDecoded(basicID), formDecoded(basicSecret)
	}
	if formID == "" || formSecret == "" {
		return "", "", errNoClientAuth
	}
	if err := client.CheckID(formID); err != nil {
		return "", "", grant.Malformed(err)
	}
	return formID, formSecret, nil
}

// formDecoded undoes the form-encoding RFC 6749 §2.3.1 asks of Basic
// client credentials (golang.org/x/oauth2 does it); a value that does not
// decode is taken as sent.
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
