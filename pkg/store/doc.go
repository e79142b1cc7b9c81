// Package store defines what Tollgate keeps durably, as small interfaces
// over plain value types, and the errors every backend returns. Backends
// live in sub-packages (sqlite, postgres); storetest is the one conformance
// suite they all run.
package store
