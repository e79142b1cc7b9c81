package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

func sampleEvent(kind string, at time.Time) store.AuditEvent {
	return store.AuditEvent{
		Time: at, Kind: kind, Subject: "alice", ClientIP: "2001:db8::1", ClientID: "docker",
		Service: "registry.local", Requested: "repository:alice/app:pull,push repository:shared/x:pull",
		Granted: "repository:alice/app:pull,push", Detail: "rule acl[1]",
	}
}

func mustAppend(t *testing.T, s store.Store, events ...store.AuditEvent) {
	t.Helper()
	if err := s.AppendAudit(context.Background(), events); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func mustList(t *testing.T, s store.Store, afterID int64, since time.Time, limit int) []store.AuditEvent {
	t.Helper()
	got, err := s.ListAudit(context.Background(), afterID, since, limit)
	if err != nil {
		t.Fatalf("list(%d, %v, %d): %v", afterID, since, limit, err)
	}
	return got
}

// kinds returns the events' kinds and checks their IDs strictly increase.
func kinds(t *testing.T, events []store.AuditEvent) string {
	t.Helper()
	var out string
	for i, e := range events {
		if i > 0 {
			out += " "
			if e.ID <= events[i-1].ID {
				t.Errorf("ids not increasing: %d after %d", e.ID, events[i-1].ID)
			}
		}
		out += e.Kind
	}
	return out
}

func auditAppendAndList(t *testing.T, s store.Store) {
	want := []store.AuditEvent{
		sampleEvent("token.issued", nonUTC),
		sampleEvent("token.denied", nonUTC.Add(time.Nanosecond)),
		{Time: nonUTC.Add(time.Second), Kind: "key.rotated", Detail: "kid ABCD:EFGH"}, // anonymous, mostly empty
	}
	want[0].ID = 9999 // ignored: the store assigns ids
	mustAppend(t, s, want...)
	got := mustList(t, s, 0, time.Time{}, 100)
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		w := want[i]
		if g.ID <= 0 {
			t.Errorf("event %d: ID = %d, want positive", i, g.ID)
		}
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("event %d: ID %d not after %d", i, g.ID, got[i-1].ID)
		}
		g.ID, w.ID = 0, 0
		gotTime, wantTime := g.Time, w.Time
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
		sameTime(t, fmt.Sprintf("event %d Time", i), gotTime, wantTime)
	}
}

func auditEmptyBatch(t *testing.T, s store.Store) {
	mustAppend(t, s)
	mustAppend(t, s, []store.AuditEvent{}...)
	if got := mustList(t, s, 0, time.Time{}, 10); len(got) != 0 {
		t.Errorf("after empty appends: %+v, want nothing", got)
	}
}

func auditAfterID(t *testing.T, s store.Store) {
	mustAppend(t, s, sampleEvent("a", nonUTC), sampleEvent("b", nonUTC), sampleEvent("c", nonUTC))
	all := mustList(t, s, 0, time.Time{}, 10)
	if got := kinds(t, all); got != "a b c" {
		t.Fatalf("all = %q, want \"a b c\"", got)
	}
	if got := kinds(t, mustList(t, s, all[0].ID, time.Time{}, 10)); got != "b c" {
		t.Errorf("after a = %q, want \"b c\"", got)
	}
	if got := mustList(t, s, all[2].ID, time.Time{}, 10); len(got) != 0 {
		t.Errorf("after the last = %+v, want nothing", got)
	}
	mustAppend(t, s, sampleEvent("d", nonUTC))
	if got := kinds(t, mustList(t, s, all[2].ID, time.Time{}, 10)); got != "d" {
		t.Errorf("after c, once d is appended = %q, want \"d\"", got)
	}
}

func auditSince(t *testing.T, s store.Store) {
	mustAppend(t, s,
		sampleEvent("t0", nonUTC),
		sampleEvent("t2", nonUTC.Add(2*time.Hour)),
		sampleEvent("t1", nonUTC.Add(time.Hour)),
		sampleEvent("t1+1ns", nonUTC.Add(time.Hour+time.Nanosecond)),
	)
	tests := []struct {
		since time.Time
		want  string
	}{
		{time.Time{}, "t0 t2 t1 t1+1ns"},
		{nonUTC.Add(-time.Hour), "t0 t2 t1 t1+1ns"},
		{nonUTC.Add(time.Hour), "t2 t1 t1+1ns"},                      // inclusive, to the nanosecond
		{nonUTC.Add(time.Hour + time.Nanosecond).UTC(), "t2 t1+1ns"}, // zone does not matter
		{nonUTC.Add(3 * time.Hour), ""},
	}
	for _, tt := range tests {
		if got := kinds(t, mustList(t, s, 0, tt.since, 10)); got != tt.want {
			t.Errorf("since %v = %q, want %q", tt.since, got, tt.want)
		}
	}
	first := mustList(t, s, 0, time.Time{}, 1)
	if got := kinds(t, mustList(t, s, first[0].ID, nonUTC.Add(time.Hour), 10)); got != "t2 t1 t1+1ns" {
		t.Errorf("after t0 and since t1 = %q", got)
	}
}

func auditLimit(t *testing.T, s store.Store) {
	for i := range 5 {
		mustAppend(t, s, sampleEvent(fmt.Sprint(i), nonUTC))
	}
	if got := kinds(t, mustList(t, s, 0, time.Time{}, 2)); got != "0 1" {
		t.Errorf("limit 2 = %q, want \"0 1\"", got)
	}
	// Paging with the last id seen visits every event once, in order.
	var (
		after int64
		pages []string
	)
	for range 10 {
		page := mustList(t, s, after, time.Time{}, 2)
		if len(page) == 0 {
			break
		}
		pages = append(pages, kinds(t, page))
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(pages) != "[0 1 2 3 4]" {
		t.Errorf("pages = %q, want [\"0 1\" \"2 3\" \"4\"]", pages)
	}
	for _, limit := range []int{0, -1} {
		if got := mustList(t, s, 0, time.Time{}, limit); len(got) != 0 {
			t.Errorf("limit %d returned %d events, want none", limit, len(got))
		}
	}
}

// auditOrder: the list follows append (id) order, not event time.
func auditOrder(t *testing.T, s store.Store) {
	mustAppend(t, s, sampleEvent("late", nonUTC.Add(time.Hour)), sampleEvent("mid", nonUTC.Add(time.Minute)))
	mustAppend(t, s, sampleEvent("early", nonUTC))
	mustAppend(t, s, sampleEvent("x", nonUTC.Add(time.Minute)), sampleEvent("y", nonUTC), sampleEvent("z", nonUTC.Add(time.Hour)))
	if got := kinds(t, mustList(t, s, 0, time.Time{}, 100)); got != "late mid early x y z" {
		t.Errorf("order = %q, want \"late mid early x y z\"", got)
	}
}

func auditConcurrentAppend(t *testing.T, s store.Store) {
	const workers, batches, size = 8, 10, 5
	errs := concurrently(workers, batches, func(w, b int) error {
		events := make([]store.AuditEvent, size)
		for i := range events {
			events[i] = sampleEvent(fmt.Sprintf("w%d-b%d-%d", w, b, i), nonUTC)
		}
		return s.AppendAudit(context.Background(), events)
	})
	noErrors(t, "concurrent append", errs)
	all := mustList(t, s, 0, time.Time{}, workers*batches*size+1)
	if len(all) != workers*batches*size {
		t.Fatalf("got %d events, want %d", len(all), workers*batches*size)
	}
	kinds(t, all) // ids strictly increase
	// Each writer's events appear in the order it appended them.
	next := map[int]int{}
	for _, e := range all {
		var w, b, i int
		if _, err := fmt.Sscanf(e.Kind, "w%d-b%d-%d", &w, &b, &i); err != nil {
			t.Fatalf("kind %q: %v", e.Kind, err)
		}
		if seq := b*size + i; seq != next[w] {
			t.Fatalf("writer %d: event %q at position %d of its own, want %d", w, e.Kind, next[w], seq)
		}
		next[w]++
	}
}

func auditDeleteBefore(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, sampleEvent("old", nonUTC), sampleEvent("edge", nonUTC.Add(time.Hour)), sampleEvent("new", nonUTC.Add(2*time.Hour)))
	n, err := s.DeleteAuditBefore(ctx, nonUTC.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("delete = %d, %v; want 1, nil", n, err)
	}
	if got := kinds(t, mustList(t, s, 0, time.Time{}, 10)); got != "edge new" {
		t.Errorf("left %q, want \"edge new\"", got)
	}
	// More than two batches' worth of old rows go, in batches, every one.
	old := 2*store.AuditPurgeBatch + 7
	for done := 0; done < old; done += 1000 {
		evs := make([]store.AuditEvent, min(1000, old-done))
		for i := range evs {
			evs[i] = sampleEvent("bulk", nonUTC)
		}
		mustAppend(t, s, evs...)
	}
	if n, err := s.DeleteAuditBefore(ctx, nonUTC.Add(time.Hour)); err != nil || n != int64(old) {
		t.Fatalf("delete of %d old rows = %d, %v", old, n, err)
	}
	if got := kinds(t, mustList(t, s, 0, time.Time{}, 10)); got != "edge new" {
		t.Errorf("after the bulk delete, left %q, want \"edge new\"", got)
	}
}

// auditLargeBatch: a batch larger than a backend's rows per statement is
// stored whole, in order, every field kept.
func auditLargeBatch(t *testing.T, s store.Store) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	events := make([]store.AuditEvent, 150)
	for i := range events {
		events[i] = sampleEvent(fmt.Sprintf("kind-%03d", i), base.Add(time.Duration(i)*time.Millisecond))
		events[i].Detail = fmt.Sprintf("row %d", i)
	}
	mustAppend(t, s, events...)
	got := mustList(t, s, 0, time.Time{}, 1000)
	if len(got) != len(events) {
		t.Fatalf("%d events stored, want %d", len(got), len(events))
	}
	for i, ev := range got {
		want := events[i]
		if ev.Kind != want.Kind || ev.Detail != want.Detail || !ev.Time.Equal(want.Time) || ev.Subject != want.Subject {
			t.Fatalf("event %d = %+v, want %+v", i, ev, want)
		}
	}
}
