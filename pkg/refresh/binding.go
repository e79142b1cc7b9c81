package refresh

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/pkg/authn"
)

// Binding is what a workload's refresh token is bound to
// (store.RefreshToken.Binding): the trust rule that vouched for the
// workload (authn.Attributes.Policy) and the claims it carried, so that
// redeeming it rebuilds the same identity while the rule is in force.
type Binding struct {
	Policy string            `json:"policy"`
	Claims map[string]string `json:"claims,omitempty"`
}

// bindingOf is the stored binding of a workload's identity; "" for any
// other.
func bindingOf(id authn.Identity) (string, error) {
	if id.Kind != authn.KindWorkload {
		return "", nil
	}
	if id.Attrs == nil || id.Attrs.Policy == "" {
		return "", errors.New("refresh token: a workload without the trust rule that vouched for it")
	}
	b, err := json.Marshal(Binding{Policy: id.Attrs.Policy, Claims: id.Attrs.Claims})
	return string(b), err
}

// ParseBinding reads a stored binding.
func ParseBinding(s string) (Binding, error) {
	var b Binding
	if err := json.Unmarshal([]byte(s), &b); err != nil || b.Policy == "" {
		return Binding{}, fmt.Errorf("%w: unreadable workload binding", ErrInvalid)
	}
	return b, nil
}
