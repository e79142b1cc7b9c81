package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// bcryptHash is shaped like the bcrypt hashes callers store (the store
// treats it as an opaque string; it hashes no particular secret).
const bcryptHash = "$2y$10$1kPV4nJ4q8Ld7K3C2Qkq5u1bE3s7sCj5rZl9yYyqf0xk5Yw7yU6lK"

func sampleClient(id string) store.Client {
	return store.Client{
		ID: id, SecretHash: bcryptHash,
		// Not sorted: the order given is the order kept.
		Audiences:   []string{"registry.local", "engine.internal"},
		Scopes:      []string{"repository:*:pull", "engine:jobs:read,write", "registry:catalog:*"},
		Description: "CI runner — «nightly» builds",
		CreatedAt:   nonUTC,
		UpdatedAt:   nonUTC.Add(time.Hour + time.Nanosecond),
	}
}

// sameClient compares every field: lists element by element (nil and
// empty alike), times exactly and in UTC.
func sameClient(t *testing.T, got, want store.Client) {
	t.Helper()
	if got.ID != want.ID || got.SecretHash != want.SecretHash || got.Description != want.Description ||
		!slices.Equal(got.Audiences, want.Audiences) || !slices.Equal(got.Scopes, want.Scopes) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	sameTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.ID+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func clientCreateAndGet(t *testing.T, s store.Store) {
	want := sampleClient("ci-runner")
	mustCreate(t, s.CreateClient, want)
	sameClient(t, mustGet(t, s.Client, want.ID), want)
}

func clientPublic(t *testing.T, s store.Store) {
	want := sampleClient("cli")
	want.SecretHash, want.UpdatedAt = "", time.Time{}
	mustCreate(t, s.CreateClient, want)
	sameClient(t, mustGet(t, s.Client, want.ID), want)
}

// clientEmptyLists: nil and empty lists both come back empty, through
// Client and ListClients, after create and after update.
func clientEmptyLists(t *testing.T, s store.Store) {
	ctx := context.Background()
	nilLists := sampleClient("nil-lists")
	nilLists.Audiences, nilLists.Scopes = nil, nil
	emptyLists := sampleClient("empty-lists")
	emptyLists.Audiences, emptyLists.Scopes = []string{}, []string{}
	oneEmpty := sampleClient("one-empty-string")
	oneEmpty.Audiences, oneEmpty.Scopes = []string{""}, nil
	mustCreate(t, s.CreateClient, nilLists, emptyLists, oneEmpty)
	check := func(when string, c store.Client) {
		t.Helper()
		if c.ID == oneEmpty.ID {
			if !slices.Equal(c.Audiences, []string{""}) || len(c.Scopes) != 0 {
				t.Errorf("%s: %s: audiences %q, scopes %q; want [\"\"] and empty", when, c.ID, c.Audiences, c.Scopes)
			}
			return
		}
		if len(c.Audiences) != 0 || len(c.Scopes) != 0 {
			t.Errorf("%s: %s: audiences %q, scopes %q; want both empty", when, c.ID, c.Audiences, c.Scopes)
		}
	}
	for _, id := range []string{nilLists.ID, emptyLists.ID, oneEmpty.ID} {
		check("get", mustGet(t, s.Client, id))
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("list has %d clients, want 3", len(list))
	}
	for _, c := range list {
		check("list", c)
	}
	// Emptied by an update, with nil and with empty lists.
	full := sampleClient("emptied")
	mustCreate(t, s.CreateClient, full)
	for _, l := range [][]string{nil, {}} {
		upd := full
		upd.Audiences, upd.Scopes = l, l
		if err := s.UpdateClient(ctx, upd); err != nil {
			t.Fatalf("update: %v", err)
		}
		check("after update", mustGet(t, s.Client, full.ID))
	}
}

func clientNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	kept := sampleClient("kept")
	mustCreate(t, s.CreateClient, kept)
	for _, id := range []string{"missing", "Kept", "kep", "kept ", "%", ""} {
		if _, err := s.Client(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %q: err = %v, want ErrNotFound", id, err)
		}
		upd := sampleClient(id)
		upd.Description = "changed"
		if err := s.UpdateClient(ctx, upd); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update %q: err = %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete %q: err = %v, want ErrNotFound", id, err)
		}
		if _, err := s.Client(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %q after update: err = %v, want ErrNotFound (update must not create)", id, err)
		}
	}
	sameClient(t, mustGet(t, s.Client, kept.ID), kept)
}

func clientConflict(t *testing.T, s store.Store) {
	first := sampleClient("dup")
	mustCreate(t, s.CreateClient, first)
	other := sampleClient("dup")
	other.SecretHash, other.Scopes, other.Description = "", []string{"repository:*:*"}, "impostor"
	if err := s.CreateClient(context.Background(), other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	sameClient(t, mustGet(t, s.Client, first.ID), first)
}

func clientListEmpty(t *testing.T, s store.Store) {
	got, err := s.ListClients(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("list of none = %+v, %v; want empty, nil", got, err)
	}
}

// clientList creates clients out of order, with ids whose byte order
// differs from a locale's (upper before lower case, '_' and '-', non-ASCII
// last), and expects them back in byte order with every field.
func clientList(t *testing.T, s store.Store) {
	ids := []string{"svc-b", "svc-a.1", "Svc-A", "é-svc", "svc-a", "_internal", "svc-a-2", "b", "A", "svc_a", "10", "9"}
	byID := map[string]store.Client{}
	for i, id := range ids {
		c := sampleClient(id)
		c.Description = "client " + id
		c.Scopes = c.Scopes[:i%4] // 0 to 3 scopes
		c.CreatedAt = nonUTC.Add(time.Duration(-i) * time.Minute)
		if i%3 == 0 {
			c.UpdatedAt = time.Time{}
		}
		byID[id] = c
		mustCreate(t, s.CreateClient, c)
	}
	got, err := s.ListClients(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var gotIDs []string
	for _, c := range got {
		gotIDs = append(gotIDs, c.ID)
	}
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(gotIDs, want) {
		t.Fatalf("list order = %q, want %q", gotIDs, want)
	}
	for _, c := range got {
		sameClient(t, c, byID[c.ID])
	}
}

func clientUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	orig, other := sampleClient("engine"), sampleClient("other")
	mustCreate(t, s.CreateClient, orig, other)
	upd := store.Client{
		ID:          orig.ID,
		SecretHash:  "$2y$10$" + "rotatedrotatedrotatedrotatedrotatedrotatedrotatedrota",
		Audiences:   []string{"engine.internal"},
		Scopes:      []string{"engine:jobs:read", "engine:jobs:write"},
		Description: "rotated secret",
		CreatedAt:   nonUTC.Add(100 * time.Hour), // ignored: creation time is kept
		UpdatedAt:   nonUTC.Add(2*time.Hour + 3*time.Nanosecond),
	}
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("update: %v", err)
	}
	want := upd
	want.CreatedAt = orig.CreatedAt
	sameClient(t, mustGet(t, s.Client, orig.ID), want)
	sameClient(t, mustGet(t, s.Client, other.ID), other)

	// To a public client.
	upd.SecretHash, upd.UpdatedAt = "", nonUTC.Add(3*time.Hour)
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("second update: %v", err)
	}
	want.SecretHash, want.UpdatedAt = "", upd.UpdatedAt
	sameClient(t, mustGet(t, s.Client, orig.ID), want)
}

func clientDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	gone, kept := sampleClient("gone"), sampleClient("kept")
	mustCreate(t, s.CreateClient, gone, kept)
	if err := s.DeleteClient(ctx, gone.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Client(ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: err = %v, want ErrNotFound", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 1 || list[0].ID != kept.ID {
		t.Errorf("list after delete = %+v, %v; want only %q", list, err, kept.ID)
	}
	// The id is free again.
	again := sampleClient(gone.ID)
	again.Description = "re-registered"
	mustCreate(t, s.CreateClient, again)
	sameClient(t, mustGet(t, s.Client, gone.ID), again)
}
