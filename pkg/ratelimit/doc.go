// Package ratelimit keeps failure budgets: one token bucket per key (a
// username, a client address) that failures spend and time refills, with a
// bound on how many keys it remembers.
//
// It is what brute-force protection needs and no more. Checking a budget
// spends nothing; only a failure does, so a user who logs in correctly is
// never slowed down by their own successes. It knows no HTTP: the server
// decides which keys a request is charged to and how a refusal is written.
package ratelimit
