package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/verify"
)

// A service puts Middleware in front of its handlers and reads the claims
// from the request context.
func ExampleVerifier_Middleware() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // Tollgate's signing key, kid "k1"
	v, err := verify.New(verify.Options{
		Issuer:     "tollgate",
		Audience:   "billing",
		PublicKeys: map[string]crypto.PublicKey{"k1": &key.PublicKey},
	})
	if err != nil {
		panic(err)
	}
	invoices := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.FromContext(r.Context())
		if !claims.HasScope("invoices:read") {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "invoices of %s", claims.Subject)
	})
	h := v.Middleware(invoices)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/invoices/", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))

	claims := claimsAt(epochNow())
	claims["iss"], claims["aud"], claims["scope"] = "tollgate", "billing", "invoices:read"
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "k1"
	raw, _ := tok.SignedString(key)
	req := httptest.NewRequest(http.MethodGet, "/invoices/", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body)
	// Output:
	// 401 Bearer realm="billing"
	// 200 invoices of alice
}
