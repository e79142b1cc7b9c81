package oidc

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
)

// Bounds of what a provider may say of a user.
const (
	maxUsername = 256
	maxEmail    = 256
)

// identity is the user the verified ID token names: Name from the
// username claim, Groups from the groups claim, Email from email unless
// email_verified is false (Core 1.0 §5.1).
func (p *Provider) identity(idt *gooidc.IDToken) (authn.Identity, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return authn.Identity{}, p.refuseErr("the ID token's claims are malformed", err)
	}
	name, err := p.username(claims)
	if err != nil {
		return authn.Identity{}, err
	}
	groups, ok := groupsOf(claims[p.cfg.GroupsClaim])
	if !ok {
		return authn.Identity{}, p.refuse(fmt.Sprintf("claim %s is not a list of group names", p.cfg.GroupsClaim))
	}
	attrs := &authn.Attributes{Groups: groups}
	if email, ok := claims["email"].(string); ok && !denied(claims["email_verified"]) && safeEmail(email) {
		attrs.Email = email
	}
	return authn.Identity{Kind: authn.KindUser, Name: name, Source: SourcePrefix + p.cfg.Name, Attrs: attrs}, nil
}

// username is the user name of the claims. An email address names a user
// only if the provider vouches for it (email_verified): anyone may write
// any address into a profile at many providers.
func (p *Provider) username(claims map[string]any) (string, error) {
	claim := p.cfg.UsernameClaim
	name, ok := claims[claim].(string)
	if !ok {
		return "", p.refuse(fmt.Sprintf("the ID token has no %s claim", claim))
	}
	if claim == "email" && !verified(claims["email_verified"]) {
		return "", p.refuse("the provider does not vouch for the email address (email_verified)")
	}
	if why := unsafeName(name); why != "" {
		return "", p.refuse(fmt.Sprintf("user name %.64q %s", name, why))
	}
	return name, nil
}

// verified and denied read email_verified: a boolean, or a string as some
// providers write it.
func verified(v any) bool { return v == true || v == "true" }
func denied(v any) bool   { return v == false || v == "false" }

// unsafeName says why Tollgate cannot take name as a user name, or "": it
// must not be empty or longer than maxUsername, must be UTF-8, hold no ':'
// (user names never do, so that a workload's "ci:..." is never a user)
// and be a name the ACL takes literally (authz.UnsafeLiteral: no '/',
// glob character, "..", white space or control character).
func unsafeName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxUsername:
		return fmt.Sprintf("is longer than %d bytes", maxUsername)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.Contains(name, ":"):
		return "contains ':'"
	}
	return authz.UnsafeLiteral(name)
}

// groupsOf reads a groups claim: a list of strings, or one string; none
// when absent. Empty names are dropped.
func groupsOf(v any) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		if v == "" {
			return nil, true
		}
		return []string{v}, true
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// safeEmail reports whether an address may be kept in the account: short,
// UTF-8, an '@', no white space or control character.
func safeEmail(s string) bool {
	return len(s) <= maxEmail && utf8.ValidString(s) && strings.Contains(s, "@") &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}
