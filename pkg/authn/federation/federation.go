package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/verify"
)

// Source is the Identity.Source of the identities a Federation vouches for.
const Source = "federation"

// maxToken bounds an identity token: real ones are 1–2 KiB.
const maxToken = 16 << 10

// Options are what a Federation needs besides its Config.
type Options struct {
	// ACLClaims lists the claims the ACL in force reads
	// (authz.Holder.Claims); nil means none.
	ACLClaims func() []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Federation verifies identity tokens against the trust policies of its
// Config. It is an authn.Authenticator for Config.Username, and safe for
// concurrent use; Update replaces its policies under running requests.
type Federation struct {
	username string
	opts     Options
	state    atomic.Pointer[state]
}

// state is one Config, compiled, with the keys of its issuers.
type state struct {
	issuers map[string]*issuerState
}

type issuerState struct {
	p    *policy
	keys *keys
}

// New compiles cfg and reads the files it names (JWKS, CA); it fetches
// nothing yet.
func New(cfg Config, opts Options) (*Federation, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Federation{username: cfg.Username, opts: opts}
	if f.username == "" {
		f.username = DefaultUsername
	}
	if err := f.Update(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// Update puts cfg's policies in force (a configuration reload): a removed
// issuer or rule ends at once what was issued under it. Keys already
// fetched for an issuer whose policy is unchanged are kept. The username
// cannot change.
func (f *Federation) Update(cfg Config) error {
	policies, err := compile(cfg)
	if err != nil {
		return err
	}
	old := f.state.Load()
	st := &state{issuers: make(map[string]*issuerState, len(policies))}
	for _, p := range policies {
		if prev, ok := old.issuer(p.issuer); ok && samePlace(prev.p, p) {
			st.issuers[p.issuer] = &issuerState{p: p, keys: prev.keys} // keys read only what samePlace compares
			continue
		}
		k, err := newKeys(p, f.opts.Now)
		if err != nil {
			return err
		}
		st.issuers[p.issuer] = &issuerState{p: p, keys: k}
	}
	f.state.Store(st)
	return nil
}

// Username is the Basic user name identity tokens come under.
func (f *Federation) Username() string { return f.username }

func (st *state) issuer(iss string) (*issuerState, bool) {
	if st == nil {
		return nil, false
	}
	is, ok := st.issuers[iss]
	return is, ok
}

// samePlace reports whether two policies fetch the same keys the same way
// over the network, so that keys already fetched may be kept. A policy
// that reads a file (jwks_file, ca_file) never is: a reload reads it
// again (the keys a cluster rotated, a renewed CA).
func samePlace(a, b *policy) bool {
	return a.jwksFile == "" && a.caFile == "" && a.jwksURL == b.jwksURL && b.jwksFile == "" && b.caFile == "" &&
		a.timeout == b.timeout && slices.Equal(a.algs, b.algs)
}

// Authenticate implements authn.Authenticator: the secret of Username is
// an identity token. Any other user name is authn.ErrNoSuchUser, so a
// Chain goes on to the next backend.
func (f *Federation) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	if username != f.username {
		return authn.Identity{}, authn.ErrNoSuchUser
	}
	return f.Verify(ctx, string(secret))
}

// Refusal is a refused identity token: Why is for the client (it holds no
// secret), and it wraps authn.ErrBadCredentials or authn.ErrUnavailable.
type Refusal struct {
	Why string
	Err error
}

func (r *Refusal) Error() string { return r.Reason() + " (" + r.Err.Error() + ")" }

// Reason is the refusal in words fit for the client.
func (r *Refusal) Reason() string { return "identity token refused: " + r.Why }

// Unwrap exposes the authn sentinel.
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(format string, args ...any) error {
	return &Refusal{Why: fmt.Sprintf(format, args...), Err: authn.ErrBadCredentials}
}

// Verify checks an identity token against the policy of its issuer and
// returns the workload it stands for.
func (f *Federation) Verify(ctx context.Context, raw string) (authn.Identity, error) {
	cs, iss, err := peek(raw)
	if err != nil {
		return authn.Identity{}, err
	}
	is, ok := f.state.Load().issuer(iss)
	if !ok {
		return authn.Identity{}, refuse("issuer %.200q is not trusted", iss)
	}
	v, err := is.keys.get(ctx)
	if err != nil {
		return authn.Identity{}, &Refusal{Why: "the issuer's keys cannot be fetched; retry later", Err: fmt.Errorf("%w: %w", authn.ErrUnavailable, err)}
	}
	c, err := v.Verify(ctx, raw)
	if err != nil {
		return authn.Identity{}, verifyError(err)
	}
	if err := is.p.checkTime(c, f.opts.Now()); err != nil {
		return authn.Identity{}, err
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(is.p.audiences, a) }) {
		return authn.Identity{}, refuse("its audience %q is not accepted", c.Audience)
	}
	return f.match(is.p, cs)
}

// peek decodes the claims of a token not yet verified, to find its
// issuer's policy. Verify trusts them only once the signature is checked.
func peek(raw string) (claimSet, string, error) {
	parts := strings.Split(raw, ".")
	if len(raw) > maxToken || len(parts) != 3 {
		return nil, "", refuse("not a signed JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, "", refuse("not a signed JWT: its claims are not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var cs claimSet
	if err := dec.Decode(&cs); err != nil || cs == nil {
		return nil, "", refuse("not a signed JWT: its claims are not a JSON object")
	}
	if name := ambiguousClaim(cs); name != "" {
		return nil, "", refuse("claim %q differs from a registered claim only in case", name)
	}
	iss, _ := cs["iss"].(string)
	return cs, iss, nil
}

// registeredClaims are RFC 7519 §4.1's names.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// ambiguousClaim returns a claim name that differs from a registered one
// only in case ("AUD"), or "". encoding/json, which the signature check
// decodes with, matches such a name to the registered claim, while the
// rules read names exactly: the two must not see different claims.
func ambiguousClaim(cs claimSet) string {
	for name := range cs {
		lower := strings.ToLower(name)
		if lower != name && slices.Contains(registeredClaims, lower) {
			return name
		}
	}
	return ""
}

// verifyError turns pkg/verify's errors into refusals.
func verifyError(err error) error {
	reasons := []struct {
		err    error
		reason string
	}{
		{verify.ErrExpired, "it has expired"},
		{verify.ErrNotYetValid, "it is not valid yet"},
		{verify.ErrAlgorithm, "its algorithm is not accepted"},
		{verify.ErrSignature, "its signature is invalid"},
		{verify.ErrUnknownKey, "it is signed with a key the issuer does not publish"},
		{verify.ErrIssuer, "its issuer is not trusted"},
	}
	if errors.Is(err, verify.ErrKeysUnavailable) {
		return &Refusal{Why: "the issuer's keys cannot be fetched; retry later", Err: fmt.Errorf("%w: %w", authn.ErrUnavailable, err)}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return &Refusal{Why: r.reason, Err: fmt.Errorf("%w: %w", authn.ErrBadCredentials, err)}
		}
	}
	return &Refusal{Why: "it is malformed", Err: fmt.Errorf("%w: %w", authn.ErrBadCredentials, err)}
}

// checkTime refuses a token older than max_age; it needs an iat then.
func (p *policy) checkTime(c verify.Claims, now time.Time) error {
	if p.maxAge == 0 {
		return nil
	}
	if c.IssuedAt.IsZero() {
		return refuse("it has no iat, and the issuer's max_age needs one")
	}
	if now.Sub(c.IssuedAt) > p.maxAge+verify.DefaultLeeway {
		return refuse("it was issued more than %s ago (max_age)", p.maxAge)
	}
	return nil
}

// match finds the first rule the claims satisfy and makes its workload.
func (f *Federation) match(p *policy, cs claimSet) (authn.Identity, error) {
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(cs) {
			continue
		}
		name, err := r.subject.expand(cs)
		if err != nil {
			return authn.Identity{}, refuse("%v", err)
		}
		claims, err := f.carried(p, r, cs)
		if err != nil {
			return authn.Identity{}, err
		}
		return workload(name, r, claims), nil
	}
	return authn.Identity{}, refuse("no rule of issuer %q matches its claims", p.issuer)
}

func (r *rule) matches(cs claimSet) bool {
	for _, m := range r.matchers {
		if !m.matches(cs) {
			return false
		}
	}
	return true
}

// carried are the claims the identity carries: iss and sub, those the
// rule and its subject read, and those the ACL reads, each checked: a
// value the ACL would take literally must be a plain name segment.
func (f *Federation) carried(p *policy, r *rule, cs claimSet) (map[string]string, error) {
	out := map[string]string{}
	add := func(name string) {
		if v, ok := cs.scalar(name); ok {
			out[name] = v
		}
	}
	add("iss")
	add("sub")
	for _, m := range r.matchers {
		add(m.claim)
	}
	for _, c := range r.subject.claims() {
		add(c)
	}
	for _, name := range f.aclClaims() {
		add(name)
	}
	return out, f.checkACLClaims(out)
}

// aclClaims lists the claims the ACL in force reads.
func (f *Federation) aclClaims() []string {
	if f.opts.ACLClaims == nil {
		return nil
	}
	return f.opts.ACLClaims()
}

// workload is the identity a rule vouches for.
func workload(name string, r *rule, claims map[string]string) authn.Identity {
	return authn.Identity{Kind: authn.KindWorkload, Name: name, Source: Source,
		Attrs: &authn.Attributes{Claims: claims, Rule: r.name, Policy: r.id}}
}

// Readmit is the workload a refresh token was issued to, if the rule it
// was issued under (policy, an Attributes.Policy) is still in force: a
// removed or changed issuer or rule ends it. The claims are those the
// identity carried; the ACL's are checked again, as it may have changed.
func (f *Federation) Readmit(_ context.Context, name, policy string, claims map[string]string) (authn.Identity, error) {
	st := f.state.Load()
	for _, is := range st.issuers {
		for i := range is.p.rules {
			r := &is.p.rules[i]
			if r.id != policy {
				continue
			}
			if err := f.checkACLClaims(claims); err != nil {
				return authn.Identity{}, err
			}
			return workload(name, r, claims), nil
		}
	}
	return authn.Identity{}, refuse("the trust rule it was issued under is no longer configured")
}

// checkACLClaims refuses claims the ACL would take literally as part of a
// repository name that are not a plain name segment (authz.UnsafeLiteral).
func (f *Federation) checkACLClaims(claims map[string]string) error {
	for _, name := range f.aclClaims() {
		v, ok := claims[name]
		if !ok {
			continue
		}
		why := authz.UnsafeLiteral(v)
		if v == "" {
			why = "is empty"
		}
		if why != "" {
			return refuse("claim %s, which the ACL uses in a repository name, %s", name, why)
		}
	}
	return nil
}
