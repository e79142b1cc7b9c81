// Package keys loads, generates and uses the keys that sign Tollgate's tokens.
//
// A [Key] is one signing key: a private key (or an HMAC secret), its key ID
// (kid), an optional certificate chain, and a JWT signing method. It is
// immutable once built and safe for concurrent use; [Key.Sign] is on the path
// of every registry pull, so everything that can be is computed when the key is
// built.
//
// What a registry does with our tokens decides what this package must produce.
// distribution v3.1.2 (registry/auth/token/token.go, VerifySigningKey) trusts a
// token's signing key in this order:
//
//  1. an x5c header whose chain verifies against its rootcertbundle;
//  2. else a jwk header, trusted by that JWK's kid;
//  3. else the kid header, looked up among the thumbprints of the
//     rootcertbundle certificates and the kids of its jwks file
//     (accesscontroller.go, newAccessController).
//
// A token that carries x5c is judged by x5c alone: if the chain does not verify,
// the registry does not fall back to kid. So x5c is sent only when a
// certificate is configured, and [Options.X5C] says when even then:
// [X5CAlways], [X5CNever], or [X5CAuto], which sends it only where the kid
// is not enough (a libtrust kid, a [Key.ThumbprintMismatch] key, a
// certificate issued by a CA, such as a ring's). The header is encoded when
// the key is built.
//
// The kid is by default the RFC 7638 JWK thumbprint (SHA-256), which is what
// distribution computes for its rootcertbundle (util.go, GetJWKThumbprint).
// distribution encodes EC coordinates without their leading zero bytes, while
// RFC 7518 §6.2.1.2 requires full length, so for about one P-256 key in 64 the
// two disagree. [Generate] never makes such a key; [Load] accepts one and
// reports it through [Key.ThumbprintMismatch]: such a key is only usable with
// x5c or a jwks file that names its kid.
//
// Registries of the 2.x line (libtrust) want the kid in libtrust's format
// instead; see [KidLibtrust] and [LibtrustKeyID].
//
// References: RFC 7515 §4.1.4 (kid), §4.1.6 (x5c); RFC 7518 §3.1, §6.2, §6.3;
// RFC 7519; RFC 7638 (thumbprints); RFC 8037 (EdDSA, OKP keys); distribution
// docs/spec/auth/jwt.md.
package keys
