// Package authz decides which of the requested scopes a client gets.
//
// The policy is an access control list of [Rule] values, compiled once by
// [Compile] into an [ACL]. For each requested scope the first rule that
// matches the account, groups, resource type, resource name, service and
// client IP decides; when no rule matches nothing is granted (default deny).
// Compile indexes the rules by the literal text their name pattern starts
// with (after ${account}, for patterns that start with it), so a request
// tests only the rules that could match its resource name, still in rule
// order: the first match is the one a scan of every rule would find, at a
// cost set by the rules that share a prefix with the name, not by the
// length of the list.
// A rule's group is a glob that one of the caller's groups must match; its
// name pattern may use ${account} and ${labels:NAME}, which stand for the
// caller's name and label values taken literally ([UnsafeLiteral]).
//
// A role in the [Request] (an API token's) caps what the rule grants:
// read keeps pull, write keeps pull and push, both keep only repository
// scopes; admin and no role keep everything. [ACL.AuthorizeRules],
// [ACL.Decide] and [ACL.Explain] all apply it, so the server and the
// operator tools (tollgate acl explain, acl test) decide alike.
//
// A denial is not an error. distribution token.md ("Requesting a Token",
// Example): the token server takes the intersection of the requested actions
// and the actions the client has been granted, and "if the client only has a
// subset of the requested access it must not be considered an error". So
// [ACL.Authorize] returns the granted subset, possibly empty, and never fails.
//
// [ACL.AuthorizeRules] also reports the deciding rule of each scope, at no
// extra cost, for audit records and logs; [ACL.Explain] says, for operators
// (tollgate acl explain), why each rule did or did not match.
//
// The package knows nothing of authentication or HTTP: callers pass the
// already authenticated account name, role, groups and labels in a
// [Request].
package authz
