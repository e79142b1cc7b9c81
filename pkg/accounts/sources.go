package accounts

import (
	"context"
	"errors"
	"slices"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// SourceUsers are the users of backends that keep no list of their own
// (the OpenID Connect providers of the UI: a provider says who someone is
// at sign-in, never whether a name is still one of its users): a name is a
// user while the store holds an account of that name made by one of
// Sources (store.Account.Source, e.g. "oidc:corp"). Removing a source from
// the configuration, or the account, ends the user: the credentials the
// account holds are refused from then on.
type SourceUsers struct {
	Store   store.Accounts
	Sources []string // the sources whose accounts are users, e.g. "oidc:corp"
}

var (
	_ Users    = SourceUsers{}
	_ Profiles = SourceUsers{}
)

// Exists reports whether name's account was made by one of the sources. A
// store that does not answer is an error: the caller keeps what it has.
func (u SourceUsers) Exists(ctx context.Context, name string) (bool, error) {
	if len(u.Sources) == 0 {
		return false, nil
	}
	acct, err := u.Store.Account(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return slices.Contains(u.Sources, acct.Source), nil
}

// Epoch is "": these users have no password here.
func (SourceUsers) Epoch(string) string { return "" }

// Profile is nil, always: a provider tells a user's groups in the ID token
// at sign-in, and nothing keeps them past the UI session. So the stored
// credentials of these users (API tokens, refresh tokens, engine tokens)
// match only the ACL rules that ask no group (by account name, ${account}
// patterns, "*"), never a rule with a group, nor a ${labels:NAME} pattern;
// only the UI session made at sign-in carries the groups.
func (SourceUsers) Profile(context.Context, string) (*authn.Attributes, error) {
	return nil, nil
}
