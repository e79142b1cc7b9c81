package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// options are the command's flags.
type options struct {
	duration    time.Duration // of each measured phase
	warmup      time.Duration
	conns       int
	rate        float64 // open loop req/s; 0: half the closed-loop maximum
	scenarios   []string
	scaling     bool
	tokens      int // filler API tokens of the largest tokens-* scenario
	stormUsers  int
	stormCost   int
	reuseWindow time.Duration
	jsonPath    string
	tollgate    string // a built binary; "" builds ./cmd/tollgate
	keep        bool
	list        bool
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	var names string
	fs := flag.NewFlagSet("tollgate-bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured phase (closed loop, then open loop)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured closed-loop load before the phases")
	fs.IntVar(&o.conns, "c", 16, "keep-alive connections")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop rate in req/s (0: half of each scenario's closed-loop maximum)")
	fs.StringVar(&names, "scenarios", "", "comma-separated scenarios to run (default: all but the scaling ones; -list names them)")
	fs.BoolVar(&o.scaling, "scaling", false, "also run the scaling scenarios (users-*, acl-*, tokens-*)")
	fs.IntVar(&o.tokens, "tokens", 1_000_000, "stored API tokens in the largest tokens-* scenarios")
	fs.IntVar(&o.stormUsers, "storm-users", 1000, "distinct users of cold-storm, each logging in once")
	fs.IntVar(&o.stormCost, "storm-cost", 10, "bcrypt cost of the cold-storm users' hashes")
	fs.DurationVar(&o.reuseWindow, "reuse-window", defaultReuseWindow, "token.reuse_window of the reuse-* scenarios")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.tollgate, "tollgate", "", "tollgate binary to serve (default: go build ./cmd/tollgate)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configurations, keys, server logs)")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if names != "" {
		o.scenarios = strings.Split(names, ",")
	}
	if o.conns < 1 || o.duration <= 0 {
		return o, errors.New("-c must be at least 1 and -duration positive")
	}
	return o, nil
}

func main() {
	if child, err := serveFloorIfChild(); child {
		exitOn(err)
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	exitOn(err)
	if o.list {
		o.scaling = true
		for _, sc := range allScenarios(o) {
			fmt.Println(sc.name)
		}
		return
	}
	rep, err := runBench(o, os.Stdout, os.Stderr)
	exitOn(err)
	if bad := troubled(rep.Results); len(bad) > 0 {
		exitOn(fmt.Errorf("failed or with errors: %s", strings.Join(bad, ", ")))
	}
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollgate-bench:", err)
		os.Exit(1)
	}
}

// allScenarios is every scenario the options allow.
func allScenarios(o options) []scenario {
	out := baseScenarios(o)
	if o.scaling || len(o.scenarios) > 0 {
		out = append(out, scalingScenarios(o)...)
	}
	return out
}

// selected is the scenarios to run: those named (all when none is named),
// preceded by the floors they are set against.
func selected(o options) ([]scenario, error) {
	all := allScenarios(o)
	if len(o.scenarios) == 0 {
		return all, nil
	}
	byName := map[string]scenario{}
	for _, sc := range all {
		byName[sc.name] = sc
	}
	want := map[string]bool{"floor-http": true}
	for _, n := range o.scenarios {
		sc, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("no scenario %q (-list names them)", n)
		}
		want[n], want["floor-sign-"+sc.signAlg()] = true, true
	}
	return slices.DeleteFunc(all, func(sc scenario) bool { return !want[sc.name] }), nil
}

// runBench builds the server, runs the selected scenarios, and writes the
// table to out (and the JSON file); progress goes to progress.
func runBench(o options, out, progress io.Writer) (*report, error) {
	scs, err := selected(o)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "tollgate-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintln(progress, "bench: keeping", root)
	} else {
		defer os.RemoveAll(root)
	}
	r := &runner{opts: o, bin: o.tollgate, dir: newBenchDir(root, o.stormCost), progress: progress}
	if r.bin == "" {
		if r.bin, err = buildTollgate(root, progress); err != nil {
			return nil, err
		}
	}
	rep := &report{Started: time.Now().UTC(), Cores: runtime.NumCPU(), Connections: o.conns,
		Duration: o.duration.String(), Rate: o.rate}
	for i, sc := range scs {
		r.step = fmt.Sprintf("[%d/%d] %s", i+1, len(scs), sc.name)
		rep.Results = append(rep.Results, r.run(sc))
	}
	setRatios(rep.Results)
	flagScaling(rep.Results)
	if err := writeTable(out, rep.Results); err != nil {
		return rep, err
	}
	if o.jsonPath != "" {
		return rep, writeJSON(o.jsonPath, rep)
	}
	return rep, nil
}

// buildTollgate builds ./cmd/tollgate of the module this runs in.
func buildTollgate(dir string, progress io.Writer) (string, error) {
	bin := filepath.Join(dir, "tollgate")
	fmt.Fprintln(progress, "bench: go build ./cmd/tollgate")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/tollgate/tollgate/cmd/tollgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tollgate: %w\n%s", err, out)
	}
	return bin, nil
}

// troubled names the results that failed or counted errors.
func troubled(results []*result) []string {
	var out []string
	for _, r := range results {
		if r.Failed != "" || r.Errors > 0 {
			out = append(out, r.Name)
		}
	}
	return out
}
