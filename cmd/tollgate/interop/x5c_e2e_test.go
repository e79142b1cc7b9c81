package interop_test

import (
	"context"
	"testing"
)

// TestX5CModesWithARealRegistry: with keys.x5c never, and with the default
// auto for a key whose kid distribution computes alike, tokens carry no
// x5c, and a real registry whose rootcertbundle is Tollgate's certificate
// still accepts pushes and pulls: distribution 3.x finds the key by kid
// among the bundle's thumbprints (INTEROP.md).
func TestX5CModesWithARealRegistry(t *testing.T) {
	for _, mode := range []string{"never", "auto"} {
		t.Run(mode, func(t *testing.T) {
			env := newE2EWithEnv(t, map[string]string{"TOLLGATE_KEYS_X5C": mode})
			if h := headerOf(t, env.MustGetToken(t, "alice", "repository:alice/app:pull")); h.Kid == "" || len(h.X5C) != 0 {
				t.Fatalf("token header %+v, want a kid and no x5c", h)
			}
			ctx := context.Background()
			pushed := env.mustPush(t, ctx, "alice/app:v1", basic("alice"))
			if got, err := env.pull(ctx, "alice/app:v1", basic("alice")); err != nil || got != pushed {
				t.Fatalf("alice/app:v1 pulled back = %s, %v; pushed %s", got, err, pushed)
			}
		})
	}
}
