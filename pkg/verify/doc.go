// Package verify validates the JWTs Tollgate mints, for the registries and
// services that accept them. It depends on nothing of Tollgate but the JWT
// library, so any service can import it.
//
// A [Verifier] checks the signature against an HS256 secret, a fixed set of
// public keys, or a JWK Set fetched from Tollgate (RFC 7517), refusing "none",
// algorithms outside the allow-list and keys of the wrong type for the alg
// (algorithm confusion). It then checks exp (required) and nbf with leeway,
// iss and aud (RFC 7519 §4.1). Every refusal wraps one of the exported
// sentinel errors; test for them with errors.Is.
//
// A service puts [Verifier.Middleware] in front of its handlers; it answers
// RFC 6750 §3 challenges itself and hands verified claims on in the request
// context:
//
//	v, err := verify.New(verify.Options{
//		Issuer:   "tollgate",
//		Audience: "billing",
//		JWKSURL:  "https://auth.example.internal/jwks.json", // any JWK Set (RFC 7517)
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		claims, _ := verify.FromContext(r.Context())
//		if !claims.HasScope("invoices:read") {
//			http.Error(w, "forbidden", http.StatusForbidden)
//			return
//		}
//		fmt.Fprintf(w, "hello %s\n", claims.Subject)
//	})
//	http.Handle("/invoices/", v.Middleware(api))
//
// Registry-style tokens carry Docker's "access" claim instead of "scope";
// [Claims.Allows] checks it.
package verify
