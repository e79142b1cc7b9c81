package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// mustCreate stores every item with create, failing the test at the first
// error.
func mustCreate[T any](t *testing.T, create func(context.Context, T) error, items ...T) {
	t.Helper()
	for _, v := range items {
		if err := create(context.Background(), v); err != nil {
			t.Fatalf("create %+v: %v", v, err)
		}
	}
}

// mustGet returns what get answers for key, failing the test on an error.
func mustGet[K, T any](t *testing.T, get func(context.Context, K) (T, error), key K) T {
	t.Helper()
	v, err := get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %v: %v", key, err)
	}
	return v
}

// concurrently runs call(w, i) for i below rounds on each of workers
// goroutines, all released at once, and returns the errors, that of
// call(w, i) at w*rounds+i.
func concurrently(workers, rounds int, call func(w, i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range rounds {
				errs[w*rounds+i] = call(w, i)
			}
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// noErrors fails the test at the first error of errs.
func noErrors(t *testing.T, what string, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// winners returns how many of errs are nil, failing the test at the first
// that is neither nil nor lost (the answer a loser of the race gets).
func winners(t *testing.T, what string, errs []error, lost error) int {
	t.Helper()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, lost):
			t.Fatalf("%s: err = %v, want nil or %v", what, err, lost)
		}
	}
	return won
}
