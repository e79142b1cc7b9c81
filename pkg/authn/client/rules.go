package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// MaxIDLen bounds a client_id in bytes; real ones are short.
const MaxIDLen = 255

// Errors of the rules; the returned errors wrap them with the name and the
// reason. Test with errors.Is.
var (
	// ErrInvalidID: a client_id outside RFC 6749 Appendix A.1 or too long.
	ErrInvalidID = errors.New("invalid client_id")
	// ErrInvalidName: a name that cannot be registered (CheckName).
	ErrInvalidName = errors.New("invalid client name")
	// ErrUUIDName: a name shaped like a UUID, which is kept for the
	// account IDs that users' tokens carry as sub.
	ErrUUIDName = errors.New("is shaped like a UUID (8-4-4-4-12 hex digits)")
	// ErrUserName: a name that a user has.
	ErrUserName = errors.New("is a user")
	// ErrClientName: a name that a registered client has.
	ErrClientName = errors.New("is a registered client")
)

// CheckID enforces the syntax of a client_id as a request carries it: RFC
// 6749 Appendix A.1 (client-id = *VSCHAR, VSCHAR = %x20-7E) and at most
// MaxIDLen bytes. The empty ID passes: whether one is required is the
// endpoint's business.
func CheckID(id string) error {
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidID, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return fmt.Errorf("%w: must be printable ASCII (RFC 6749 Appendix A.1)", ErrInvalidID)
		}
	}
	return nil
}

// CheckName is the rule for registering a client (`tollgate clients add`):
// a valid client_id (CheckID) of 1 to MaxIDLen letters, digits, '.', '_'
// and '-' (what HTTP Basic's form encoding, RFC 6749 §2.3.1, leaves as is),
// that the ACL can take literally (authz.UnsafeLiteral: no ".."), and not
// shaped like a UUID (ErrUUIDName).
func CheckName(name string) error {
	if err := CheckID(name); err != nil {
		return fmt.Errorf("%w %.40q: %w", ErrInvalidName, name, err)
	}
	var why string
	switch {
	case name == "":
		why = "empty"
	case !nameChars(name):
		why = "use letters, digits, '.', '_' and '-'"
	case authz.UnsafeLiteral(name) != "":
		why = authz.UnsafeLiteral(name)
	case looksLikeUUID(name):
		return fmt.Errorf("client name %q %w: UUIDs are kept for users' account IDs, the sub of their tokens", name, ErrUUIDName)
	default:
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
}

func nameChars(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// looksLikeUUID reports the RFC 9562 §4 string form, 8-4-4-4-12 hex digits
// in either case, whatever its version and variant.
func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

// AccountFinder is the part of store.Accounts that CheckNotUser reads.
type AccountFinder interface {
	// Account returns the account named name, or store.ErrNotFound.
	Account(ctx context.Context, name string) (store.Account, error)
}

// ClientFinder is the part of store.Clients that CheckNotClient reads.
type ClientFinder interface {
	// Client returns the client with that ID, or store.ErrNotFound.
	Client(ctx context.Context, id string) (store.Client, error)
}

// CheckNotUser refuses, with ErrUserName, a client name that a user has:
// a user of the htpasswd file at htpasswdPath (a missing file, or "", has
// none) or an account in accounts (nil: not consulted), which also covers
// a user who has left the file but whose account and credentials remain.
// Names compare exactly, as the token endpoints do.
func CheckNotUser(ctx context.Context, name, htpasswdPath string, accounts AccountFinder) error {
	inFile, err := inHtpasswd(htpasswdPath, name)
	if err != nil {
		return err
	}
	if inFile {
		return fmt.Errorf("client name %q %w (in %s): clients and users share one namespace, the sub of their tokens",
			name, ErrUserName, htpasswdPath)
	}
	if accounts == nil {
		return nil
	}
	_, err = accounts.Account(ctx, name)
	switch {
	case err == nil:
		return fmt.Errorf("client name %q %w (an account in the store, tollgate users list): clients and users share one namespace, the sub of their tokens",
			name, ErrUserName)
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

func inHtpasswd(path, name string) (bool, error) {
	if path == "" {
		return false, nil
	}
	entries, err := htpasswd.Entries(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(entries, func(e htpasswd.Entry) bool { return e.User == name }), nil
}

// CheckNotClient refuses, with ErrClientName, a user name that a
// registered client has (for `tollgate users add`): the mirror of
// CheckNotUser.
func CheckNotClient(ctx context.Context, name string, clients ClientFinder) error {
	_, err := clients.Client(ctx, name)
	switch {
	case err == nil:
		return fmt.Errorf("user name %q %w (tollgate clients list): users and clients need distinct names", name, ErrClientName)
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}
