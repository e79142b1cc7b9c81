package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/scope"
)

// exitError carries the exit status main uses for err (1 for other errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process exit status for an error returned by a command.
func exitCode(err error) int {
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	return 1
}

// Exit statuses of `tollgate acl test`.
const (
	exitCaseFailed = 1 // a case's decision differs from the table
	exitMalformed  = 2 // the table (or the configuration) cannot be used
)

func newACLCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Explain and test the decisions of the configured ACL",
	}
	cmd.AddCommand(newACLExplainCommand(), newACLTestCommand())
	return cmd
}

// explainFlags holds the flags of `tollgate acl explain`.
type explainFlags struct {
	account   string
	anonymous bool
	groups    []string
	labels    []string
	claims    []string
	scopes    []string
	service   string
	ip        string
	role      string
	all       bool
}

func newACLExplainCommand() *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Show which rule decides each scope for a caller, and why other rules did not",
		Long: `Decide each --scope for the caller as the server would and print, per scope,
the deciding rule (index and text), why each requested action was granted or
dropped, and the near misses: rules that did not match although their name
pattern matches the scope (or only one field differs), with the reason.
--all lists every rule. Nothing is contacted; only the ACL of --config is read.`,
		Example: `  tollgate acl explain --account alice --scope repository:team/app:push
  tollgate acl explain --anonymous --scope repository:public/x:pull --service registry.local
  tollgate acl explain --account ci-build --ip 10.1.2.3 --role read --scope 'repository:a/b:pull,push registry:catalog:*'
  tollgate acl explain --account alice --group ops --label team=blue --scope repository:teams/blue/app:push
  tollgate acl explain --account ci:github:acme/app --claim repository_owner=acme --scope repository:acme/app:push`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.account, "account", "", `the signed-in account ("" = anonymous)`)
	fl.BoolVar(&f.anonymous, "anonymous", false, "explain for an anonymous client")
	fl.StringArrayVar(&f.groups, "group", nil, "a group of the caller, matched by the rules' group (repeatable)")
	fl.StringArrayVar(&f.labels, "label", nil, "a label of the caller as NAME=VALUE, for ${labels:NAME} in rule names (repeatable)")
	fl.StringArrayVar(&f.claims, "claim", nil, "an identity-token claim of a workload as NAME=VALUE, for ${claims:NAME} in rule names (repeatable)")
	fl.StringArrayVar(&f.scopes, "scope", nil, "a requested scope, e.g. repository:team/app:pull,push (repeatable; space-separated lists too)")
	fl.StringVar(&f.service, "service", "", "the service parameter of the token request")
	fl.StringVar(&f.ip, "ip", "", "the client address (default: unknown, which no ip rule matches)")
	fl.StringVar(&f.role, "role", "", "the role of an API token (read, write, admin), which caps the grant")
	fl.BoolVar(&f.all, "all", false, "list every rule, not only the deciding rule and the near misses")
	return cmd
}

func (f *explainFlags) run(cmd *cobra.Command) error {
	switch {
	case f.anonymous && f.account != "":
		return errors.New("--anonymous and --account name different callers; give one")
	case !f.anonymous && !cmd.Flags().Changed("account"):
		return errors.New(`say who asks: --account NAME, or --anonymous (or --account "")`)
	case len(f.scopes) == 0:
		return errors.New("give at least one --scope, e.g. --scope repository:team/app:pull")
	case f.role != "" && !authz.ValidRole(f.role):
		return fmt.Errorf("--role %q: want read, write or admin", f.role)
	}
	scopes, err := scope.ParseAll(f.scopes)
	if err != nil {
		return fmt.Errorf("--scope: %w", err)
	}
	ip, err := parseClientIP(f.ip)
	if err != nil {
		return fmt.Errorf("--ip: %w", err)
	}
	labels, err := parseLabels(f.labels)
	if err != nil {
		return fmt.Errorf("--label: %w", err)
	}
	claims, err := parseLabels(f.claims)
	if err != nil {
		return fmt.Errorf("--claim: %w", err)
	}
	acl, err := loadACL(operatorConfigPath(cmd))
	if err != nil {
		return err
	}
	req := authz.Request{Account: f.account, Service: f.service, ClientIP: ip, Role: f.role, Groups: f.groups,
		Labels: labels, Claims: claims}
	return explainACL(cmd.OutOrStdout(), acl, req, scopes, f.all)
}

// parseLabels turns NAME=VALUE arguments into a label map; a name given
// twice is an error, not a silent override.
func parseLabels(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	labels := make(map[string]string, len(args))
	for _, arg := range args {
		name, value, ok := strings.Cut(arg, "=")
		if _, dup := labels[name]; !ok || name == "" || dup {
			return nil, fmt.Errorf("%q: want NAME=VALUE, each NAME once", arg)
		}
		labels[name] = value
	}
	return labels, nil
}

// loadACL compiles the acl of the configuration file; nothing else of the
// file is needed (keys, users and store need not exist).
func loadACL(path string) (*authz.ACL, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	acl, err := authz.Compile(cfg.ACL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return acl, nil
}

func parseClientIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return ip.Unmap(), nil // as the server sees its peers
}

// explainACL writes the explanation of every scope.
func explainACL(w io.Writer, acl *authz.ACL, req authz.Request, scopes []scope.Scope, all bool) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "request: %s\n", describeRequest(req))
	rules := acl.Rules()
	for _, s := range scopes {
		b.WriteByte('\n')
		writeExplanation(&b, rules, acl.Explain(req, s), s, all)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func describeRequest(req authz.Request) string {
	account := "(anonymous)"
	if req.Account != "" {
		account = req.Account
	}
	ip := "unknown"
	if req.ClientIP.IsValid() {
		ip = req.ClientIP.String()
	}
	return fmt.Sprintf("account=%s service=%s ip=%s", account, strconv.Quote(req.Service), ip) + describeCaller(req)
}

// describeCaller lists the role, groups, labels and claims of req, each with a
// leading space; nothing for those it has not.
func describeCaller(req authz.Request) string {
	var out string
	if req.Role != "" {
		out += " role=" + req.Role
	}
	if len(req.Groups) > 0 {
		out += " groups=" + strings.Join(req.Groups, ",")
	}
	for _, name := range slices.Sorted(maps.Keys(req.Labels)) {
		out += " label:" + name + "=" + strconv.Quote(req.Labels[name])
	}
	for _, name := range slices.Sorted(maps.Keys(req.Claims)) {
		out += " claim:" + name + "=" + strconv.Quote(req.Claims[name])
	}
	return out
}

func writeExplanation(b *bytes.Buffer, rules []authz.Rule, e authz.Explanation, s scope.Scope, all bool) {
	fmt.Fprintf(b, "%s\n", s)
	if e.Rule < 0 {
		b.WriteString("  no rule matches: default deny\n")
	} else {
		fmt.Fprintf(b, "  decided by rule %d: %s\n", e.Rule, rules[e.Rule])
	}
	for _, ar := range e.Actions {
		fmt.Fprintf(b, "    %s: %s\n", ar.Action, ar.Reason)
	}
	if len(e.Granted) == 0 {
		b.WriteString("  granted: nothing\n")
	} else {
		granted := s
		granted.Actions = e.Granted
		fmt.Fprintf(b, "  granted: %s\n", granted)
	}
	var shown []authz.Check
	for _, c := range e.Checks {
		if c.Rule != e.Rule && (all || nearMiss(c)) {
			shown = append(shown, c)
		}
	}
	if len(shown) == 0 {
		return
	}
	if all {
		b.WriteString("  other rules:\n")
	} else {
		b.WriteString("  near misses:\n")
	}
	for _, c := range shown {
		fmt.Fprintf(b, "    rule %d%s: %s\n", c.Rule, position(c.Rule, e.Rule), rules[c.Rule])
		if c.Matches() {
			fmt.Fprintf(b, "      matches too, but rule %d comes first (first match wins)\n", e.Rule)
		}
		for _, reason := range c.Reasons {
			fmt.Fprintf(b, "      %s\n", reason)
		}
	}
}

// nearMiss reports whether a rule that did not decide is worth showing: its
// name pattern matches the scope, or just one field kept it from matching.
func nearMiss(c authz.Check) bool {
	return c.Mismatch&authz.FieldName == 0 || len(c.Reasons) == 1
}

func position(rule, decided int) string {
	switch {
	case decided < 0:
		return ""
	case rule < decided:
		return " (earlier)"
	default:
		return " (later)"
	}
}

func newACLTestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test FILE",
		Short: "Check a table of expected decisions against the ACL (for CI)",
		Long: `Run a YAML list of cases against the acl of --config and print one line per
case, then "N passed, M failed". Each case is a mapping:

  - {account: alice, scope: "repository:alice/app:pull,push", expect: [pull, push]}
  - {account: "", scope: "repository:shared/x:pull", expect: []}
  - {account: bob, service: registry.local, ip: 10.0.0.1, scope: "repository:alice/app:pull", expect: [], rule: -1}
  - {account: carol, groups: [ops], labels: {team: blue}, scope: "repository:teams/blue/app:push", expect: [push]}
  - {account: "ci:github:acme/app", claims: {repository_owner: acme}, scope: "repository:acme/app:push", expect: [push]}

account ("" = anonymous), scope (one scope) and expect (the granted actions,
in any order) are required; service, ip, role (an API token's role), groups
(a list), labels and claims (mappings of name to value: a user's labels, a
workload's identity-token claims) and rule (the index of the
deciding rule, -1 for none) are optional. Unknown keys are
refused. Exit status: 0 all passed, 1 a case failed, 2 the table or the
configuration could not be used.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			acl, err := loadACL(operatorConfigPath(cmd))
			if err != nil {
				return &exitError{code: exitMalformed, err: err}
			}
			cases, err := readACLCases(args[0], len(acl.Rules()))
			if err != nil {
				return &exitError{code: exitMalformed, err: err}
			}
			return runACLCases(cmd.OutOrStdout(), acl, cases)
		},
	}
	return cmd
}

// aclCase is one parsed and checked row of an `acl test` table.
type aclCase struct {
	index   int
	line    int
	req     authz.Request
	scope   scope.Scope
	expect  []string
	rule    int
	hasRule bool
}

// aclCaseYAML is a row as written.
type aclCaseYAML struct {
	Account string            `yaml:"account"`
	Service string            `yaml:"service"`
	IP      string            `yaml:"ip"`
	Role    string            `yaml:"role"`
	Groups  []string          `yaml:"groups"`
	Labels  map[string]string `yaml:"labels"`
	Claims  map[string]string `yaml:"claims"`
	Scope   string            `yaml:"scope"`
	Expect  []string          `yaml:"expect"`
	Rule    int               `yaml:"rule"`
}

var (
	aclCaseKeys     = []string{"account", "service", "ip", "role", "groups", "labels", "claims", "scope", "expect", "rule"}
	aclCaseRequired = []string{"account", "scope", "expect"}
)

// readACLCases reads and checks the whole table, reporting every problem
// at once, each naming its case index and line.
func readACLCases(path string, nrules int) ([]aclCase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a list of cases", path, list.Line)
	}
	if len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	var cases []aclCase
	var problems []string
	for i, n := range list.Content {
		c, errs := parseACLCase(i, n, nrules)
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("case %d (line %d): %s", i, n.Line, e))
		}
		cases = append(cases, c)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: malformed:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return cases, nil
}

func parseACLCase(i int, n *yaml.Node, nrules int) (aclCase, []string) {
	c := aclCase{index: i, line: n.Line}
	if n.Kind != yaml.MappingNode {
		return c, []string{"want a mapping like {account: alice, scope: ..., expect: [pull]}"}
	}
	var errs []string
	seen := map[string]bool{}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key := n.Content[k].Value
		if !slices.Contains(aclCaseKeys, key) {
			errs = append(errs, fmt.Sprintf("unknown key %q (known: %s)", key, strings.Join(aclCaseKeys, ", ")))
		}
		seen[key] = true
	}
	for _, key := range aclCaseRequired {
		if !seen[key] {
			errs = append(errs, fmt.Sprintf("missing %s", key))
		}
	}
	var raw aclCaseYAML
	if err := n.Decode(&raw); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
		for line := range strings.Lines(msg) {
			errs = append(errs, strings.TrimSpace(line))
		}
		return c, errs
	}
	var err error
	c.req = authz.Request{Account: raw.Account, Service: raw.Service, Role: raw.Role, Groups: raw.Groups, Labels: raw.Labels,
		Claims: raw.Claims}
	c.expect = raw.Expect
	if seen["scope"] {
		if c.scope, err = scope.Parse(raw.Scope); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if c.req.ClientIP, err = parseClientIP(raw.IP); err != nil {
		errs = append(errs, fmt.Sprintf("ip: %v", err))
	}
	if c.req.Role != "" && !authz.ValidRole(c.req.Role) {
		errs = append(errs, fmt.Sprintf("role %q: want read, write or admin", c.req.Role))
	}
	if c.rule, c.hasRule = raw.Rule, seen["rule"]; c.hasRule && (c.rule < -1 || c.rule >= nrules) {
		errs = append(errs, fmt.Sprintf("rule %d: the ACL has rules 0 to %d (-1: none)", c.rule, nrules-1))
	}
	return c, errs
}

// runACLCases prints one line per case and the summary; it fails with
// exitCaseFailed when any case did.
func runACLCases(w io.Writer, acl *authz.ACL, cases []aclCase) error {
	var b bytes.Buffer
	rules := acl.Rules()
	failed := 0
	for _, c := range cases {
		d := acl.Decide(c.req, c.scope)
		got := d.Granted
		what := fmt.Sprintf("case %d (line %d): %s %s", c.index, c.line, describeCase(c), c.scope)
		if sameActions(got, c.expect) && (!c.hasRule || c.rule == d.Rule) {
			fmt.Fprintf(&b, "ok    %s: granted %s (rule %d)\n", what, formatActions(got), d.Rule)
			continue
		}
		failed++
		want := formatActions(c.expect)
		if c.hasRule {
			want += fmt.Sprintf(" (rule %d)", c.rule)
		}
		fmt.Fprintf(&b, "FAIL  %s: got %s (rule %d), want %s\n", what, formatActions(got), d.Rule, want)
		if d.Rule >= 0 {
			fmt.Fprintf(&b, "      rule %d: %s\n", d.Rule, rules[d.Rule])
		} else {
			b.WriteString("      no rule matched: default deny\n")
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", len(cases)-failed, failed)
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	if failed > 0 {
		return &exitError{code: exitCaseFailed, err: fmt.Errorf("%d of %d ACL test cases failed", failed, len(cases))}
	}
	return nil
}

func describeCase(c aclCase) string {
	out := `account=""`
	if c.req.Account != "" {
		out = "account=" + c.req.Account
	}
	if c.req.Service != "" {
		out += " service=" + c.req.Service
	}
	if c.req.ClientIP.IsValid() {
		out += " ip=" + c.req.ClientIP.String()
	}
	return out + describeCaller(c.req)
}

// sameActions compares two action lists as sets.
func sameActions(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func formatActions(actions []string) string {
	return "[" + strings.Join(actions, ", ") + "]"
}
