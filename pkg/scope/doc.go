// Package scope parses, formats and intersects the resource scopes of the
// Docker token protocol, such as "repository:library/ubuntu:pull,push" or
// "registry:catalog:*".
//
// The grammar is that of distribution's docs/content/spec/auth/scope.md
// ("Resource Scope Grammar"); how clients send scopes is in token.md
// ("Requesting a Token"). Parsing is strict and every failure wraps
// [ErrMalformed], so a server can answer 400 without further thought.
// Whether an action is allowed is not decided here but by the ACL; this
// package only offers [Scope.Has] and [Scope.Intersect] to apply its answer.
package scope
