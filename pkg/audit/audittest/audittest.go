// Package audittest is an audit sink for tests: it keeps the events and
// the failed logins it is given (the Record and FailedLogin of
// audit.Recorder, which grant.Auditor and the engine's auditor name).
package audittest

import (
	"slices"
	"sync"

	"github.com/tollgate/tollgate/pkg/store"
)

// Recorder keeps what it is given; safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []store.AuditEvent
	failed []store.AuditEvent
}

// Record keeps an audit event.
func (r *Recorder) Record(ev store.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// FailedLogin keeps a failed login.
func (r *Recorder) FailedLogin(ev store.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, ev)
}

// Events are the events recorded so far, in order.
func (r *Recorder) Events() []store.AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// FailedLogins are the failed logins recorded so far, in order.
func (r *Recorder) FailedLogins() []store.AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failed)
}
