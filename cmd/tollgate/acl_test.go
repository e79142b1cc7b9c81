package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authz"
)

const (
	shippedConfig = "../../configs/tollgate.yaml"
	shippedTable  = "../../configs/acl-tests.yaml"
)

// writeFile writes content to name in a new temporary directory.
func writeACLFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ipConfig is the shipped ACL plus a CI rule bound to a service and a network.
func ipConfig(t *testing.T) string {
	t.Helper()
	return writeACLFile(t, "tollgate.yaml", `acl:
  - {account: admin, actions: ["*"]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
  - {account: "ci-*", service: registry.local, ip: ["10.0.0.0/8"], type: repository, name: "*", actions: [pull], comment: CI runners}
`)
}

func TestACLExplain(t *testing.T) {
	tests := []struct {
		name   string
		config string // "" = the shipped configuration
		args   []string
		want   string // the whole output
	}{
		{
			name: "granted by the ${account} rule",
			args: []string{"--account", "alice", "--scope", "repository:alice/app:pull,push"},
			want: `request: account=alice service="" ip=unknown

repository:alice/app:pull,push
  decided by rule 1: account=* type=repository name=${account}/* actions=pull,push
    pull: granted by rule 1
    push: granted by rule 1
  granted: repository:alice/app:pull,push
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: "alice" does not match "admin"
    rule 2 (later): account=* type=repository name=shared/* actions=pull
      name: "alice/app" does not match "shared/*"
`,
		},
		{
			name: "partly granted",
			args: []string{"--account", "bob", "--scope", "repository:shared/base:pull,push", "--service", "registry.local"},
			want: `request: account=bob service="registry.local" ip=unknown

repository:shared/base:pull,push
  decided by rule 2: account=* type=repository name=shared/* actions=pull
    pull: granted by rule 2
    push: dropped: not in rule 2's actions (pull)
  granted: repository:shared/base:pull
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: "bob" does not match "admin"
    rule 1 (earlier): account=* type=repository name=${account}/* actions=pull,push
      name: "shared/base" does not match "${account}/*" with ${account} = bob
`,
		},
		{
			name: "anonymous, two scopes",
			args: []string{"--anonymous", "--scope", "repository:public/x:pull,push repository:alice/app:pull"},
			want: `request: account=(anonymous) service="" ip=unknown

repository:public/x:pull,push
  decided by rule 3: account="" type=repository name=public/* actions=pull
    pull: granted by rule 3
    push: dropped: not in rule 3's actions (pull)
  granted: repository:public/x:pull
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: the rule is for signed-in accounts; the request is anonymous

repository:alice/app:pull
  no rule matches: default deny
    pull: dropped: no rule matched (default deny)
  granted: nothing
  near misses:
    rule 0: account=admin actions=*
      account: the rule is for signed-in accounts; the request is anonymous
    rule 3: account="" type=repository name=public/* actions=pull
      name: "alice/app" does not match "public/*"
`,
		},
		{
			name: "no rule matches another user's repository",
			args: []string{"--account", "alice", "--scope", "repository:bob/app:push"},
			want: `request: account=alice service="" ip=unknown

repository:bob/app:push
  no rule matches: default deny
    push: dropped: no rule matched (default deny)
  granted: nothing
  near misses:
    rule 0: account=admin actions=*
      account: "alice" does not match "admin"
    rule 1: account=* type=repository name=${account}/* actions=pull,push
      name: "bob/app" does not match "${account}/*" with ${account} = alice
    rule 2: account=* type=repository name=shared/* actions=pull
      name: "bob/app" does not match "shared/*"
`,
		},
		{
			name: "wildcard request and a later rule that matches too",
			args: []string{"--account", "admin", "--scope", "repository:admin/app:*"},
			want: `request: account=admin service="" ip=unknown

repository:admin/app:*
  decided by rule 0: account=admin actions=*
    *: granted by rule 0
  granted: repository:admin/app:*
  near misses:
    rule 1 (later): account=* type=repository name=${account}/* actions=pull,push
      matches too, but rule 0 comes first (first match wins)
    rule 2 (later): account=* type=repository name=shared/* actions=pull
      name: "admin/app" does not match "shared/*"
`,
		},
		{
			name:   "IP rule from inside the network",
			config: "ip",
			args:   []string{"--account", "ci-build", "--service", "registry.local", "--ip", "10.1.2.3", "--scope", "repository:team/app:pull,push"},
			want: `request: account=ci-build service="registry.local" ip=10.1.2.3

repository:team/app:pull,push
  decided by rule 2: account=ci-* type=repository name=* service=registry.local ip=10.0.0.0/8 actions=pull  # CI runners
    pull: granted by rule 2
    push: dropped: not in rule 2's actions (pull)
  granted: repository:team/app:pull
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: "ci-build" does not match "admin"
    rule 1 (earlier): account=* type=repository name=${account}/* actions=pull,push
      name: "team/app" does not match "${account}/*" with ${account} = ci-build
`,
		},
		{
			name:   "IP rule from outside the network",
			config: "ip",
			args:   []string{"--account", "ci-build", "--service", "registry.local", "--ip", "::ffff:192.0.2.1", "--scope", "repository:team/app:pull"},
			want: `request: account=ci-build service="registry.local" ip=192.0.2.1

repository:team/app:pull
  no rule matches: default deny
    pull: dropped: no rule matched (default deny)
  granted: nothing
  near misses:
    rule 0: account=admin actions=*
      account: "ci-build" does not match "admin"
    rule 1: account=* type=repository name=${account}/* actions=pull,push
      name: "team/app" does not match "${account}/*" with ${account} = ci-build
    rule 2: account=ci-* type=repository name=* service=registry.local ip=10.0.0.0/8 actions=pull  # CI runners
      ip: client 192.0.2.1 is not in 10.0.0.0/8
`,
		},
		{
			name: "role caps the grant",
			args: []string{"--account", "alice", "--role", "read", "--scope", "repository:alice/app:pull,push", "--scope", "repository:alice/x:*"},
			want: `request: account=alice service="" ip=unknown role=read

repository:alice/app:pull,push
  decided by rule 1: account=* type=repository name=${account}/* actions=pull,push
    pull: granted by rule 1
    push: granted by rule 1, then dropped: the read role allows only pull
  granted: repository:alice/app:pull
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: "alice" does not match "admin"
    rule 2 (later): account=* type=repository name=shared/* actions=pull
      name: "alice/app" does not match "shared/*"

repository:alice/x:*
  decided by rule 1: account=* type=repository name=${account}/* actions=pull,push
    *: rule 1 lists its actions, so * stands for pull,push, narrowed by the read role to pull
  granted: repository:alice/x:pull
  near misses:
    rule 0 (earlier): account=admin actions=*
      account: "alice" does not match "admin"
    rule 2 (later): account=* type=repository name=shared/* actions=pull
      name: "alice/x" does not match "shared/*"
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTollgateEnv(t)
			cfg := shippedConfig
			if tt.config == "ip" {
				cfg = ipConfig(t)
			}
			out, err := runCLI(t, "", append([]string{"acl", "explain", "--config", cfg}, tt.args...)...)
			if err != nil {
				t.Fatalf("acl explain: %v\n%s", err, out)
			}
			if out != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

// teamConfig is an ACL that uses groups and labels: ops pushes under ops/,
// and a caller labelled with a team owns teams/TEAM/.
func teamConfig(t *testing.T) string {
	t.Helper()
	return writeACLFile(t, "tollgate.yaml", `acl:
  - {account: "*", group: ops, type: repository, name: "ops/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "teams/${labels:team}/*", actions: [pull, push]}
`)
}

func TestACLExplainGroupsAndLabels(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the whole output
	}{
		{
			name: "group and label",
			args: []string{"--account", "alice", "--group", "dev", "--group", "ops", "--label", "team=blue",
				"--scope", "repository:ops/app:push", "--scope", "repository:teams/blue/app:push"},
			want: `request: account=alice service="" ip=unknown groups=dev,ops label:team="blue"

repository:ops/app:push
  decided by rule 0: account=* group=ops type=repository name=ops/* actions=pull,push
    push: granted by rule 0
  granted: repository:ops/app:push
  near misses:
    rule 1 (later): account=* type=repository name=teams/${labels:team}/* actions=pull,push
      name: "ops/app" does not match "teams/${labels:team}/*" with ${labels:team} = blue

repository:teams/blue/app:push
  decided by rule 1: account=* type=repository name=teams/${labels:team}/* actions=pull,push
    push: granted by rule 1
  granted: repository:teams/blue/app:push
  near misses:
    rule 0 (earlier): account=* group=ops type=repository name=ops/* actions=pull,push
      name: "teams/blue/app" does not match "ops/*"
`,
		},
		{
			name: "no group, an unsafe label",
			args: []string{"--account", "alice", "--label", "team=blue/*", "--scope", "repository:teams/blue/x/app:pull"},
			want: `request: account=alice service="" ip=unknown label:team="blue/*"

repository:teams/blue/x/app:pull
  no rule matches: default deny
    pull: dropped: no rule matched (default deny)
  granted: nothing
  near misses:
    rule 1: account=* type=repository name=teams/${labels:team}/* actions=pull,push
      name: "teams/${labels:team}/*" uses ${labels:team}, whose value "blue/*" cannot be taken literally (contains '/')
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTollgateEnv(t)
			out, err := runCLI(t, "", append([]string{"acl", "explain", "--config", teamConfig(t)}, tt.args...)...)
			if err != nil {
				t.Fatalf("acl explain: %v\n%s", err, out)
			}
			if out != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

func TestACLTestGroupsAndLabels(t *testing.T) {
	table := `- {account: alice, groups: [ops], scope: "repository:ops/app:push", expect: [push], rule: 0}
- {account: alice, groups: [dev], scope: "repository:ops/app:push", expect: [], rule: -1}
- {account: alice, labels: {team: blue}, scope: "repository:teams/blue/app:pull", expect: [pull], rule: 1}
- {account: alice, labels: {team: "*"}, scope: "repository:teams/red/app:pull", expect: [pull]}
- {account: alice, role: read, groups: [ops], labels: {team: red, env: prod}, scope: "repository:ops/app:pull,push", expect: [pull]}
`
	want := `ok    case 0 (line 1): account=alice groups=ops repository:ops/app:push: granted [push] (rule 0)
ok    case 1 (line 2): account=alice groups=dev repository:ops/app:push: granted [] (rule -1)
ok    case 2 (line 3): account=alice label:team="blue" repository:teams/blue/app:pull: granted [pull] (rule 1)
FAIL  case 3 (line 4): account=alice label:team="*" repository:teams/red/app:pull: got [] (rule -1), want [pull]
      no rule matched: default deny
ok    case 4 (line 5): account=alice role=read groups=ops label:env="prod" label:team="red" repository:ops/app:pull,push: granted [pull] (rule 0)
4 passed, 1 failed
`
	clearTollgateEnv(t)
	out, err := runCLI(t, "", "acl", "test", writeACLFile(t, "cases.yaml", table), "--config", teamConfig(t))
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if code := exitCode(err); err == nil || code != exitCaseFailed {
		t.Fatalf("error %v (exit code %d), want exit code %d", err, code, exitCaseFailed)
	}
}

func TestACLExplainAnonymousSpellings(t *testing.T) {
	clearTollgateEnv(t)
	scope := "repository:public/x:pull"
	flag, err1 := runCLI(t, "", "acl", "explain", "--config", shippedConfig, "--anonymous", "--scope", scope)
	empty, err2 := runCLI(t, "", "acl", "explain", "--config", shippedConfig, "--account", "", "--scope", scope)
	if err1 != nil || err2 != nil {
		t.Fatalf("errors: %v, %v", err1, err2)
	}
	if flag != empty || !strings.Contains(flag, "pull: granted by rule 3") {
		t.Errorf("--anonymous gave\n%s\n--account \"\" gave\n%s", flag, empty)
	}
}

func TestACLExplainAll(t *testing.T) {
	clearTollgateEnv(t)
	out, err := runCLI(t, "", "acl", "explain", "--config", shippedConfig, "--account", "alice", "--all", "--scope", "repository:alice/app:pull")
	if err != nil {
		t.Fatal(err)
	}
	// Rule 3 fails on two fields, so only --all shows it.
	for _, want := range []string{"  other rules:\n", "    rule 3 (later): account=\"\"", `name: "alice/app" does not match "public/*"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestACLExplainUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no caller", []string{"--scope", "repository:a/b:pull"}, "--anonymous"},
		{"two callers", []string{"--anonymous", "--account", "alice", "--scope", "repository:a/b:pull"}, "give one"},
		{"no scope", []string{"--account", "alice"}, "--scope"},
		{"malformed scope", []string{"--account", "alice", "--scope", "repository:a/b"}, "malformed"},
		{"bad ip", []string{"--account", "alice", "--scope", "repository:a/b:pull", "--ip", "10.0.0.0/8"}, "--ip"},
		{"bad role", []string{"--account", "alice", "--scope", "repository:a/b:pull", "--role", "root"}, "--role"},
		{"label without =", []string{"--account", "alice", "--scope", "repository:a/b:pull", "--label", "team"}, "--label"},
		{"label without name", []string{"--account", "alice", "--scope", "repository:a/b:pull", "--label", "=blue"}, "--label"},
		{"label twice", []string{"--account", "alice", "--scope", "repository:a/b:pull", "--label", "team=a", "--label", "team=b"}, "--label"},
		{"missing config", []string{"--config", "/nonexistent/tollgate.yaml", "--account", "alice", "--scope", "repository:a/b:pull"}, "/nonexistent/tollgate.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTollgateEnv(t)
			args := append([]string{"acl", "explain", "--config", shippedConfig}, tt.args...)
			_, err := runCLI(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
		})
	}
}

// TestShippedACLTable keeps configs/acl-tests.yaml true of configs/tollgate.yaml.
func TestShippedACLTable(t *testing.T) {
	clearTollgateEnv(t)
	out, err := runCLI(t, "", "acl", "test", shippedTable, "--config", shippedConfig)
	if err != nil {
		t.Fatalf("acl test of the shipped table: %v\n%s", err, out)
	}
	if strings.Contains(out, "FAIL") || !strings.HasSuffix(out, " passed, 0 failed\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestACLTestResults(t *testing.T) {
	table := `- {account: alice, scope: "repository:alice/app:pull,push", expect: [push, pull]}
- {account: alice, scope: "repository:bob/app:pull", expect: [pull]}
- {account: alice, scope: "repository:alice/app:pull", expect: [pull], rule: 2}
- {account: "", scope: "repository:public/app:pull", expect: [pull], rule: 3}
- {account: bob, service: registry.local, ip: 10.0.0.1, scope: "repository:alice/app:pull", expect: [], rule: -1}
- {account: alice, role: read, scope: "repository:alice/app:pull,push", expect: [pull, push]}
`
	want := `ok    case 0 (line 1): account=alice repository:alice/app:pull,push: granted [pull, push] (rule 1)
FAIL  case 1 (line 2): account=alice repository:bob/app:pull: got [] (rule -1), want [pull]
      no rule matched: default deny
FAIL  case 2 (line 3): account=alice repository:alice/app:pull: got [pull] (rule 1), want [pull] (rule 2)
      rule 1: account=* type=repository name=${account}/* actions=pull,push
ok    case 3 (line 4): account="" repository:public/app:pull: granted [pull] (rule 3)
ok    case 4 (line 5): account=bob service=registry.local ip=10.0.0.1 repository:alice/app:pull: granted [] (rule -1)
FAIL  case 5 (line 6): account=alice role=read repository:alice/app:pull,push: got [pull] (rule 1), want [pull, push]
      rule 1: account=* type=repository name=${account}/* actions=pull,push
3 passed, 3 failed
`
	clearTollgateEnv(t)
	out, err := runCLI(t, "", "acl", "test", writeACLFile(t, "cases.yaml", table), "--config", shippedConfig)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if code := exitCode(err); err == nil || code != 1 {
		t.Fatalf("error %v (exit code %d), want exit code 1", err, code)
	}
	if !strings.Contains(err.Error(), "3 of 6") {
		t.Errorf("error %q does not count the failures", err)
	}
}

func TestACLTestMalformed(t *testing.T) {
	tests := []struct {
		name   string
		table  string
		config string // "" = the shipped configuration
		want   []string
	}{
		{"unknown key names the case", `- {account: alice, scope: "repository:a/b:pull", expect: [pull]}
- {account: alice, scope: "repository:a/b:pull", expct: [pull]}
`, "", []string{`case 1 (line 2): unknown key "expct"`, "case 1 (line 2): missing expect"}},
		{"groups and labels of the wrong shape", `- {account: alice, scope: "repository:a/b:pull", expect: [], groups: ops, labels: [team]}
`, "", []string{"case 0 (line 1): line 1: cannot unmarshal !!str `ops` into []string", "cannot unmarshal !!seq into map[string]string"}},
		{"every problem at once", `- {scope: "repository::pull", expect: [pull], ip: nope, rule: 7, role: boss}
- just a string
- {account: alice, scope: "repository:a/b:pull", expect: pull}
`, "", []string{
			"case 0 (line 1): missing account", `case 0 (line 1): scope: malformed: "repository::pull"`,
			`case 0 (line 1): ip: "nope" is not an IP address`, `case 0 (line 1): role "boss"`,
			"case 0 (line 1): rule 7: the ACL has rules 0 to 3", "case 1 (line 2): want a mapping",
			"case 2 (line 3): line 3: cannot unmarshal",
		}},
		{"block style names the field's line", "- account: alice\n  scope: repository:a/b:pull\n  expect: [pull]\n  rule: one\n", "",
			[]string{"case 0 (line 1): line 4: cannot unmarshal !!str `one` into int"}},
		{"not a list", "account: alice\n", "", []string{"want a list of cases"}},
		{"empty", "# nothing yet\n", "", []string{"no cases"}},
		{"empty list", "[]\n", "", []string{"no cases"}},
		{"not YAML", "- {account: alice\n", "", []string{"cases.yaml"}},
		{"duplicate key", "- {account: alice, account: bob, scope: \"repository:a/b:pull\", expect: []}\n", "", []string{"already defined"}},
		{"configuration with a broken acl", "- {account: alice, scope: \"repository:a/b:pull\", expect: []}\n",
			"acl:\n  - {account: alice}\n", []string{"acl[0].actions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTollgateEnv(t)
			cfg := shippedConfig
			if tt.config != "" {
				cfg = writeACLFile(t, "tollgate.yaml", tt.config)
			}
			out, err := runCLI(t, "", "acl", "test", writeACLFile(t, "cases.yaml", tt.table), "--config", cfg)
			if code := exitCode(err); err == nil || code != 2 {
				t.Fatalf("error %v (exit code %d), want exit code 2", err, code)
			}
			if out != "" {
				t.Errorf("cases ran despite the problem:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestACLTestMissingFile(t *testing.T) {
	clearTollgateEnv(t)
	_, err := runCLI(t, "", "acl", "test", filepath.Join(t.TempDir(), "none.yaml"), "--config", shippedConfig)
	if !errors.Is(err, os.ErrNotExist) || exitCode(err) != 2 {
		t.Errorf("error %v (exit code %d), want a missing file and exit code 2", err, exitCode(err))
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errors.New("plain"), 1},
		{&exitError{code: 2, err: errors.New("malformed")}, 2},
		{fmt.Errorf("wrapped: %w", &exitError{code: 3, err: errors.New("x")}), 3},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// Workload claims: --claim and the claims of acl test tables stand for
// ${claims:NAME}, taken literally like labels.
func TestACLClaims(t *testing.T) {
	clearTollgateEnv(t)
	cfg := writeACLFile(t, "tollgate.yaml", `acl:
  - {account: "ci:github:*", type: repository, name: "${claims:repository_owner}/*", actions: [pull, push]}
`)
	out, err := runCLI(t, "", "acl", "explain", "--config", cfg, "--account", "ci:github:acme/app",
		"--claim", "repository_owner=acme", "--scope", "repository:acme/app:push")
	if err != nil || !strings.Contains(out, `claim:repository_owner="acme"`) || !strings.Contains(out, "granted: repository:acme/app:push") {
		t.Errorf("explain: %v\n%s", err, out)
	}
	table := `- {account: "ci:github:acme/app", claims: {repository_owner: acme}, scope: "repository:acme/app:push", expect: [push], rule: 0}
- {account: "ci:github:acme/app", claims: {repository_owner: acme}, scope: "repository:other/app:push", expect: [], rule: -1}
- {account: "ci:github:acme/app", claims: {repository_owner: "acme/x"}, scope: "repository:acme/x/app:push", expect: []}
`
	out, err = runCLI(t, "", "acl", "test", writeACLFile(t, "cases.yaml", table), "--config", cfg)
	if err != nil || !strings.HasSuffix(out, "3 passed, 0 failed\n") {
		t.Errorf("acl test: %v\n%s", err, out)
	}
}

// The admin ACL page's report is `tollgate acl test`'s.
func TestACLReportForTheUI(t *testing.T) {
	acl, err := authz.Compile([]authz.Rule{{Account: ptrTo("*"), Type: "repository", Name: "${account}/*", Actions: []string{"pull", "push"}}})
	if err != nil {
		t.Fatal(err)
	}
	table := writeACLFile(t, "cases.yaml", `- {account: alice, scope: "repository:alice/app:push", expect: [push]}
- {account: alice, scope: "repository:bob/app:push", expect: [push]}
`)
	got := aclReport(acl, table)
	if !strings.Contains(got, "1 passed, 1 failed") || !strings.Contains(got, "FAIL  case 1") {
		t.Errorf("report:\n%s", got)
	}
	if got := aclReport(acl, filepath.Join(t.TempDir(), "missing.yaml")); !strings.Contains(got, "cannot be used") {
		t.Errorf("report of a missing table: %q", got)
	}
}

func ptrTo(s string) *string { return &s }
