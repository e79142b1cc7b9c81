package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain serves a floor when the smoke test starts this test binary as
// one (floorArgs runs os.Executable), and runs the tests otherwise.
func TestMain(m *testing.M) {
	if child, err := serveFloorIfChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs two scenarios and their floors for two seconds of load in
// all, on two connections: nothing may fail, and the table must be sane.
func TestSmoke(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	o := options{duration: 250 * time.Millisecond, warmup: 50 * time.Millisecond, conns: 2,
		scenarios: []string{"cached-ES256", "apitoken"}, jsonPath: jsonPath, stormCost: 10}
	var out, progress bytes.Buffer
	rep, err := runBench(o, &out, &progress)
	if err != nil {
		t.Fatalf("runBench: %v\nprogress:\n%s", err, progress.String())
	}
	names := []string{"floor-http", "floor-sign-ES256", "cached-ES256", "apitoken"}
	if len(rep.Results) != len(names) {
		t.Fatalf("%d results, want %d (%v):\n%s", len(rep.Results), len(names), names, out.String())
	}
	for i, r := range rep.Results {
		if r.Name != names[i] {
			t.Errorf("result %d is %s, want %s", i, r.Name, names[i])
		}
		checkSane(t, r)
		if !strings.Contains(out.String(), r.Name) {
			t.Errorf("the table does not name %s:\n%s", r.Name, out.String())
		}
	}
	checkJSON(t, jsonPath, len(names))
}

func checkSane(t *testing.T, r *result) {
	t.Helper()
	if !r.measured() || r.Errors > 0 {
		t.Errorf("%s: failed %q, skipped %q, %d errors (first: %s)", r.Name, r.Failed, r.Skipped, r.Errors, r.FirstError)
		return
	}
	if r.RPS <= 0 || r.Requests == 0 || r.OpenRate <= 0 || r.LatencyFrom != "open loop" {
		t.Errorf("%s: %.0f req/s, %d requests, open loop at %.0f (%s), want all positive, latency from the open loop",
			r.Name, r.RPS, r.Requests, r.OpenRate, r.LatencyFrom)
	}
	if !(0 < r.P50 && r.P50 <= r.P99 && r.P99 <= r.P999) {
		t.Errorf("%s: p50 %v, p99 %v, p99.9 %v: want 0 < p50 <= p99 <= p99.9", r.Name, r.P50, r.P99, r.P999)
	}
	if r.PeakRSS <= 0 || r.StartupMS <= 0 || r.CPUPerRequest <= 0 {
		t.Errorf("%s: peak RSS %d, startup %vms, cpu %vµs/req: want all positive", r.Name, r.PeakRSS, r.StartupMS, r.CPUPerRequest)
	}
	for floor, q := range map[string]*ratio{"http": r.VsHTTP, "sign": r.VsSign} {
		if q == nil || q.CPU <= 0 || q.Throughput <= 0 {
			t.Errorf("%s: ratio to the %s floor %+v, want positive CPU and throughput ratios", r.Name, floor, q)
		}
	}
}

func checkJSON(t *testing.T, path string, want int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Results) != want || rep.Connections != 2 {
		t.Errorf("JSON report: %v, %d results, %d connections; want %d results, 2 connections", err, len(rep.Results), rep.Connections, want)
	}
}

// Quantiles come back within the histogram's precision.
func TestHistogramQuantiles(t *testing.T) {
	h := &histogram{}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0.999, 999 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(tc.q)
		if diff := float64(got-tc.want) / float64(tc.want); diff < -0.01 || diff > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", tc.q, got, tc.want)
		}
	}
	if (&histogram{}).quantile(0.5) != 0 {
		t.Error("an empty histogram's median is not 0")
	}
}

// A server without token.reuse_window skips the reuse scenarios; other
// start failures are failures.
func TestSkipReason(t *testing.T) {
	reuse := scenario{spec: serverSpec{reuseWindow: time.Second}}
	unknown := errors.New(`invalid configuration: x.yaml: unknown key "token.reuse_window"`)
	if got := skipReason(reuse, unknown); !strings.Contains(got, "no token.reuse_window") {
		t.Errorf("skipReason(reuse, unknown key) = %q, want a skip", got)
	}
	if got := skipReason(scenario{}, unknown); got != "" {
		t.Errorf("skipReason(no reuse window, unknown key) = %q, want none", got)
	}
	if got := skipReason(reuse, errors.New("bind: address in use")); got != "" {
		t.Errorf("skipReason(reuse, other error) = %q, want none", got)
	}
}
