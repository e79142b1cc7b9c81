package authz

import (
	"sync/atomic"

	"github.com/tollgate/tollgate/pkg/scope"
)

// Holder holds the ACL in force and lets it be replaced under running
// requests (a configuration reload): each request reads the ACL once,
// without a lock, and decides every scope against that one ACL. It has
// ACL's AuthorizeRules, so it stands wherever an ACL authorizes.
type Holder struct {
	acl atomic.Pointer[ACL]
}

// NewHolder returns a Holder of acl, which must not be nil.
func NewHolder(acl *ACL) *Holder {
	h := &Holder{}
	h.Store(acl)
	return h
}

// Load returns the ACL in force.
func (h *Holder) Load() *ACL { return h.acl.Load() }

// Store puts acl in force for the requests that start from now on; those
// in flight finish with the ACL they began with. A nil acl is a wiring
// bug: Store panics rather than fail every request later.
func (h *Holder) Store(acl *ACL) {
	if acl == nil {
		panic("authz: Holder.Store(nil)")
	}
	h.acl.Store(acl)
}

// AuthorizeRules is ACL.AuthorizeRules of the ACL in force.
func (h *Holder) AuthorizeRules(req Request, requested []scope.Scope, rules []int) []scope.Scope {
	return h.Load().AuthorizeRules(req, requested, rules)
}

// Claims is ACL.Claims of the ACL in force.
func (h *Holder) Claims() []string { return h.Load().Claims() }
