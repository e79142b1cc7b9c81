// Package metrics defines Tollgate's Prometheus metrics: one Metrics value,
// built by New over a registry the caller owns (never the global default
// one) and handed to whatever records into it. Nothing here is global.
//
// The packages that do the work do not import Prometheus. They expose small
// hooks (grant.Observer, authn.Cache.Observe, htpasswd.File.OnCompare) and
// the wiring in cmd/tollgate and server/ connects those hooks to the methods
// here. Label sets are closed enumerations (TokenResult, AuthFailure, ...)
// resolved to their series once, in New, or, for grant types, the entries
// of the grant tables, declared once when the server is built
// (GrantTypes); recording on the request path is a lookup and an atomic
// add: no label hashing and no allocation. HTTP routes are labelled by their path template, never the
// raw URL, which keeps the number of series bounded whatever clients send.
//
// Every method is safe on a nil *Metrics and then does nothing, so code that
// runs without metrics (tests, tools) needs no checks.
package metrics
