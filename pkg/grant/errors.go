package grant

import (
	"errors"
	"time"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/refresh"
)

// Error codes beyond go-oauth2's RFC 6749 §5.2 values (oautherrors.ErrInvalidRequest,
// ErrInvalidClient, ErrInvalidGrant, ErrUnauthorizedClient,
// ErrUnsupportedGrantType, ErrInvalidScope), which Error.Code also holds.
// Each is its own value; its text is the code a dialect sends.
var (
	// ErrInvalidTarget: an audience the client may not ask for (RFC 8707 §2).
	ErrInvalidTarget = errors.New("invalid_target")
	// ErrTooManyFailures: a failure budget is spent; retry after
	// Error.RetryAfter (429). RFC 6749 has no code for it;
	// temporarily_unavailable (§4.1.2.1) is the one that says "retry later".
	ErrTooManyFailures = errors.New("temporarily_unavailable")
)

// Refusal says how the pipeline accounts for a refused request.
type Refusal uint8

// Refusals.
const (
	// NotCounted: a malformed or unsupported request, refused before any
	// credential was tried; not audited.
	NotCounted Refusal = iota
	// FailedLogin: wrong or unknown credentials. It spends the failure
	// budgets and is audited aggregated per address and minute.
	FailedLogin
	// Denied: credentials that cannot be used (malformed, a disabled
	// account); one audit row each, no budget spent.
	Denied
)

// Error is a refused token request: what every dialect renders, each in
// its own format (Docker errcode, RFC 6749 §5.2, Anchore). It wraps Code
// and the cause, so errors.Is finds both.
type Error struct {
	Code    error  // an oautherrors value or one of this package's codes
	Message string // short, for the client: "invalid username or password"
	// Detail adds to Message (Docker's errcode detail); RFC 6749's
	// error_description is Detail when set, else Message.
	Detail     string
	RetryAfter time.Duration // ErrTooManyFailures: when a budget holds a token again
	Refusal    Refusal
	Cause      error
}

func (e *Error) Error() string {
	s := e.Code.Error() + ": " + e.Message
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap exposes the code and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Code, e.Cause} }

// Description is the RFC 6749 §5.2 error_description.
func (e *Error) Description() string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Message
}

// AsError returns err's *Error, if it is one.
func AsError(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Invalid is a malformed request (invalid_request), refused before any
// credential was tried.
func Invalid(message, detail string) *Error {
	return &Error{Code: oautherrors.ErrInvalidRequest, Message: message, Detail: detail}
}

// Malformed is an invalid_request whose message is err's, wrapping it.
func Malformed(err error) *Error {
	return &Error{Code: oautherrors.ErrInvalidRequest, Message: err.Error(), Cause: err}
}

// Messages of refused credentials, the same in every dialect.
const (
	msgBadCredentials = "invalid username or password"
	msgDisabled       = "account is disabled"
)

// reasoner is an authentication error that says why in words fit for the
// client (federation.Refusal: "identity token refused: it has expired").
type reasoner interface{ Reason() string }

// Credentials classifies an error of authentication: wrong or unknown
// credentials are a FailedLogin (invalid_grant, with message, else the
// error's own Reason, else "invalid username or password"), a disabled
// account is Denied; anything else (a store or a backend that is away:
// store.ErrUnavailable, authn.ErrUnavailable) is returned as it is.
func Credentials(err error, message string) error {
	var r reasoner
	if message == "" && errors.As(err, &r) && !errors.Is(err, authn.ErrUnavailable) {
		message = r.Reason()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, authn.ErrDisabled):
		return &Error{Code: oautherrors.ErrInvalidGrant, Message: msgDisabled, Refusal: Denied, Cause: err}
	case errors.Is(err, authn.ErrNoSuchUser), errors.Is(err, authn.ErrBadCredentials), errors.Is(err, refresh.ErrInvalid):
		if message == "" {
			message = msgBadCredentials
		}
		return &Error{Code: oautherrors.ErrInvalidGrant, Message: message, Refusal: FailedLogin, Cause: err}
	}
	return err
}

// Unsupported is the error for a grant_type the table does not hold,
// naming those it does: "grant_type must be password or refresh_token".
func (t Table) Unsupported() *Error {
	return &Error{Code: oautherrors.ErrUnsupportedGrantType, Message: "grant_type must be " + orList(t.Names())}
}

// tooMany is the refusal of a spent budget.
func tooMany(wait time.Duration) *Error {
	return &Error{Code: ErrTooManyFailures, Message: "too many failed logins for this user or from this address",
		RetryAfter: wait}
}
