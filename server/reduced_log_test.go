package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// reducedLines returns the "access reduced" log lines, without time and
// request_id (checked to be present).
func reducedLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] != "access reduced" {
			continue
		}
		if id, _ := m["request_id"].(string); id == "" {
			t.Errorf("access reduced line without request_id: %s", line)
		}
		delete(m, "time")
		delete(m, "request_id")
		out = append(out, m)
	}
	return out
}

func TestAccessReducedLog(t *testing.T) {
	line := func(subject, scope, granted string, rule float64) map[string]any {
		return map[string]any{"level": "INFO", "msg": "access reduced", "subject": subject, "service": service,
			"scope": scope, "granted": granted, "rule": rule}
	}
	tests := []struct {
		name string
		send func(t *testing.T, e *env) response
		want []map[string]any
	}{
		{
			name: "partly granted, one scope denied, one fully granted",
			send: func(t *testing.T, e *env) response {
				return e.get(t, "service="+service+"&scope=repository:shared/x:pull,push&scope=repository:bob/x:pull&scope=repository:alice/app:pull", basic("alice"))
			},
			want: []map[string]any{
				line("alice", "repository:shared/x:pull,push", "pull", 2),
				line("alice", "repository:bob/x:pull", "", -1),
			},
		},
		{
			name: "anonymous",
			send: func(t *testing.T, e *env) response {
				return e.get(t, "service="+service+"&scope=repository:public/x:pull,push", nil)
			},
			want: []map[string]any{line("", "repository:public/x:pull,push", "pull", 3)},
		},
		{
			name: "wildcard against a list",
			send: func(t *testing.T, e *env) response {
				return e.get(t, "service="+service+"&scope=repository:alice/app:*", basic("alice"))
			},
			want: []map[string]any{line("alice", "repository:alice/app:*", "pull,push", 1)},
		},
		{
			name: "POST password grant",
			send: func(t *testing.T, e *env) response {
				return e.post(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {passwords["bob"]},
					"client_id": {"test"}, "service": {service}, "scope": {"repository:alice/app:pull repository:bob/app:push"}})
			},
			want: []map[string]any{line("bob", "repository:alice/app:pull", "", -1)},
		},
		{
			name: "everything granted",
			send: func(t *testing.T, e *env) response {
				return e.get(t, "service="+service+"&scope=repository:alice/app:push,pull&scope=repository:shared/x:pull", basic("alice"))
			},
		},
		{
			name: "login without scopes",
			send: func(t *testing.T, e *env) response { return e.get(t, "service="+service, basic("alice")) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if r := tt.send(t, e); r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := reducedLines(t, e.logs.String()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("access reduced lines:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
