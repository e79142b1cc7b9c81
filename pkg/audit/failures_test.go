package audit

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

type failure struct {
	at   time.Duration // after the minute's start
	addr string
	name string
}

func TestFailedLoginsAggregatePerAddressAndMinute(t *testing.T) {
	minute := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	repeat := func(n int, f failure) []failure {
		out := make([]failure, n)
		for i := range out {
			out[i] = f
		}
		return out
	}
	names := func(n int, addr string) []failure {
		var out []failure
		for i := range n {
			out = append(out, failure{addr: addr, name: fmt.Sprintf("user%02d", i)})
		}
		return out
	}
	row := func(at time.Time, addr, subject, detail string) store.AuditEvent {
		return store.AuditEvent{Time: at, Kind: TokenDenied, ClientIP: addr, Subject: subject, Detail: detail}
	}
	tests := []struct {
		name     string
		failures []failure
		want     []store.AuditEvent
	}{
		{"one name tried 37 times", repeat(37, failure{addr: "192.0.2.1", name: "alice"}),
			[]store.AuditEvent{row(minute, "192.0.2.1", "alice", "failed logins: 37; users: alice")}},
		{"two names", []failure{{addr: "192.0.2.1", name: "alice"}, {addr: "192.0.2.1", name: "bob"}, {addr: "192.0.2.1", name: "alice"}},
			[]store.AuditEvent{row(minute, "192.0.2.1", "", "failed logins: 3; users: alice, bob")}},
		{"no name (refresh tokens)", repeat(4, failure{addr: "192.0.2.1"}),
			[]store.AuditEvent{row(minute, "192.0.2.1", "", "failed logins: 4")}},
		{"five names listed, the rest counted", names(8, "192.0.2.1"),
			[]store.AuditEvent{row(minute, "192.0.2.1", "", "failed logins: 8; users: user00, user01, user02, user03, user04 (+3 more)")}},
		{"distinct names counted up to a bound", names(40, "192.0.2.1"),
			[]store.AuditEvent{row(minute, "192.0.2.1", "", "failed logins: 40; users: user00, user01, user02, user03, user04 (+27 or more)")}},
		{"a long name is cut", []failure{{addr: "192.0.2.1", name: strings.Repeat("é", 40)}},
			[]store.AuditEvent{row(minute, "192.0.2.1", strings.Repeat("é", 32)+"…", "failed logins: 1; users: "+strings.Repeat("é", 32)+"…")}},
		{"one row per address", []failure{{addr: "192.0.2.2", name: "bob"}, {addr: "192.0.2.1", name: "alice"}},
			[]store.AuditEvent{
				row(minute, "192.0.2.1", "alice", "failed logins: 1; users: alice"),
				row(minute, "192.0.2.2", "bob", "failed logins: 1; users: bob"),
			}},
		{"one row per minute", []failure{{addr: "192.0.2.1", name: "alice"}, {at: 61 * time.Second, addr: "192.0.2.1", name: "alice"}},
			[]store.AuditEvent{
				row(minute, "192.0.2.1", "alice", "failed logins: 1; users: alice"),
				row(minute.Add(time.Minute), "192.0.2.1", "alice", "failed logins: 1; users: alice"),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFailures()
			for _, fl := range tt.failures {
				f.add(minute.Add(fl.at), fl.addr, fl.name)
			}
			if got := f.take(minute.Add(2*time.Minute), false); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows:\n got %+v\nwant %+v", got, tt.want)
			}
			if again := f.take(minute.Add(3*time.Minute), true); len(again) != 0 {
				t.Errorf("rows taken twice: %+v", again)
			}
		})
	}
}

func TestFailedLoginsWaitForTheMinuteToEnd(t *testing.T) {
	minute := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	f := newFailures()
	f.add(minute.Add(10*time.Second), "192.0.2.1", "alice")
	if got := f.take(minute.Add(59*time.Second), false); len(got) != 0 {
		t.Errorf("rows before the minute ended: %+v", got)
	}
	f.add(minute.Add(20*time.Second), "192.0.2.1", "alice")
	got := f.take(minute.Add(30*time.Second), true) // shutdown: the minute so far
	if len(got) != 1 || got[0].Detail != "failed logins: 2; users: alice" {
		t.Errorf("rows at shutdown: %+v, want one counting 2", got)
	}
}

func TestFailedLoginsBoundAddresses(t *testing.T) {
	minute := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	f := newFailures()
	for i := range maxFailureAddrs + 10 {
		f.add(minute, fmt.Sprintf("10.0.%d.%d", i/256, i%256), "alice")
	}
	f.add(minute, "10.0.0.0", "bob") // an address with a row keeps it
	got := f.take(minute.Add(time.Minute), false)
	if len(got) != maxFailureAddrs+1 {
		t.Fatalf("%d rows, want %d addresses and one for the rest", len(got), maxFailureAddrs)
	}
	rest := got[len(got)-1]
	if rest.ClientIP != "" || rest.Detail != "failed logins: 10; users: alice" || rest.Subject != "alice" {
		t.Errorf("row of the addresses past the bound: %+v", rest)
	}
	for _, r := range got[:len(got)-1] {
		if r.ClientIP == "10.0.0.0" && r.Detail != "failed logins: 2; users: alice, bob" {
			t.Errorf("row of 10.0.0.0: %+v", r)
		}
	}
}

func TestRecorderWritesFailedLoginRows(t *testing.T) {
	st := &flakyAudit{}
	r := fast(st)
	stop := running(t, r)
	for range 3 {
		r.FailedLogin(store.AuditEvent{ClientIP: "192.0.2.9", Subject: "mallory", Service: "ignored"})
	}
	stop() // the minute has not ended: shutdown writes it
	got := st.stored()
	if len(got) != 1 || got[0].Kind != TokenDenied || got[0].ClientIP != "192.0.2.9" || got[0].Subject != "mallory" ||
		got[0].Detail != "failed logins: 3; users: mallory" || got[0].Service != "" {
		t.Errorf("stored %+v, want one token.denied row counting 3", got)
	}
}
