// Package token mints the JWTs of the Docker token protocol: a grant (who,
// for which service, which access) becomes claims, and the claims become a
// signed token (distribution docs/content/spec/auth/jwt.md and token.md).
package token
