package apitoken_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/store"
)

// fakeStore is an in-memory store.APITokens that counts its calls.
type fakeStore struct {
	mu      sync.Mutex
	tokens  map[string]store.APIToken
	order   []string               // hashes, oldest first
	touches []map[string]time.Time // every TouchAPITokens batch
	reads   int
	fail    error // returned by every call when set
}

var _ store.APITokens = (*fakeStore)(nil)

func newFakeStore() *fakeStore { return &fakeStore{tokens: make(map[string]store.APIToken)} }

func (f *fakeStore) CreateAPIToken(_ context.Context, t store.APIToken, maxLive int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.tokens[t.Hash]; ok {
		return fmt.Errorf("fake: %w", store.ErrConflict)
	}
	live := 0
	for _, o := range f.tokens {
		if o.AccountID == t.AccountID && o.RevokedAt.IsZero() && o.ExpiresAt.After(t.CreatedAt) {
			live++
		}
	}
	if maxLive > 0 && live >= maxLive {
		return fmt.Errorf("fake: %w", store.ErrLimit)
	}
	f.tokens[t.Hash] = t
	f.order = append(f.order, t.Hash)
	return nil
}

func (f *fakeStore) APIToken(_ context.Context, hash string) (store.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail != nil {
		return store.APIToken{}, f.fail
	}
	t, ok := f.tokens[hash]
	if !ok {
		return store.APIToken{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	return t, nil
}

func (f *fakeStore) FindAPIToken(_ context.Context, prefix string) (store.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.APIToken{}, f.fail
	}
	var match []store.APIToken
	for h, t := range f.tokens {
		if prefix != "" && strings.HasPrefix(h, prefix) {
			match = append(match, t)
		}
	}
	switch len(match) {
	case 0:
		return store.APIToken{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	case 1:
		return match[0], nil
	}
	return store.APIToken{}, fmt.Errorf("fake: %w", store.ErrConflict)
}

// ListAPITokens lists in insertion order and ignores the page: the tests
// here create tokens at distinct times (the real order is the stores').
func (f *fakeStore) ListAPITokens(_ context.Context, accountID string, _ store.Page) ([]store.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []store.APIToken
	for _, h := range f.order {
		if t := f.tokens[h]; accountID == "" || t.AccountID == accountID {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeStore) RevokeAPIToken(_ context.Context, prefix, accountID string, at time.Time) (store.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.APIToken{}, f.fail
	}
	var match []string
	for h, t := range f.tokens {
		if strings.HasPrefix(h, prefix) && (accountID == "" || t.AccountID == accountID) {
			match = append(match, h)
		}
	}
	switch len(match) {
	case 0:
		return store.APIToken{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	case 1:
	default:
		return store.APIToken{}, fmt.Errorf("fake: %w", store.ErrConflict)
	}
	t := f.tokens[match[0]]
	if t.RevokedAt.IsZero() {
		t.RevokedAt = at
		f.tokens[t.Hash] = t
	}
	return t, nil
}

func (f *fakeStore) TouchAPITokens(_ context.Context, used map[string]time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touches = append(f.touches, maps.Clone(used))
	if f.fail != nil {
		return f.fail
	}
	for h, at := range used {
		if t, ok := f.tokens[h]; ok && at.After(t.LastUsedAt) {
			t.LastUsedAt = at
			f.tokens[h] = t
		}
	}
	return nil
}

func (f *fakeStore) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeStore) touchBatches() []map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.touches)
}

func (f *fakeStore) get(hash string) store.APIToken {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[hash]
}

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

var errBoom = errors.New("boom")
