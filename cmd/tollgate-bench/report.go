package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one scenario's line of the report.
type result struct {
	Name    string `json:"name"`
	Family  string `json:"family,omitempty"` // scaling series
	Size    int    `json:"size,omitempty"`
	SignAlg string `json:"sign_floor_alg,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	Failed  string `json:"failed,omitempty"`

	RPS         float64 `json:"req_per_s"`      // closed loop
	OpenRate    float64 `json:"open_loop_rate"` // intended req/s of the open loop (0: none)
	LatencyFrom string  `json:"latency_from"`   // "open loop" or "closed loop"
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	P999        float64 `json:"p999_ms"`

	Requests   uint64 `json:"requests"`     // answered as expected, both phases
	Errors     uint64 `json:"errors"`       // unexpected status or no answer
	Rejected   uint64 `json:"expected_401"` // wrong passwords answered 401
	FirstError string `json:"first_error,omitempty"`

	CPUPerRequest float64 `json:"server_cpu_us_per_req"`
	PeakRSS       int64   `json:"peak_rss_bytes"`
	StartupMS     float64 `json:"startup_ms"` // process start → /ready 200

	VsHTTP *ratio `json:"vs_http_floor,omitempty"`
	VsSign *ratio `json:"vs_sign_floor,omitempty"`

	Note             string `json:"note,omitempty"`
	OutsideTolerance bool   `json:"outside_tolerance,omitempty"`
}

// ratio sets a result against a floor: CPU is the result's server CPU per
// request over the floor's (3 = three times the floor's cost); Throughput
// is its req/s over the floor's (0.25 = a quarter of the floor's rate).
type ratio struct {
	CPU        float64 `json:"cpu"`
	Throughput float64 `json:"throughput"`
}

func (r *result) measured() bool { return r.Skipped == "" && r.Failed == "" }

// report is the whole run, as written to -json.
type report struct {
	Started     time.Time `json:"started"`
	Cores       int       `json:"cores"`
	Connections int       `json:"connections"`
	Duration    string    `json:"phase_duration"`
	Rate        float64   `json:"open_loop_rate,omitempty"` // fixed by -rate; 0: half each closed-loop maximum
	Results     []*result `json:"results"`
}

// setRatios sets every measured result against the http floor and the
// sign floor of its algorithm.
func setRatios(results []*result) {
	floors := map[string]*result{}
	for _, r := range results {
		floors[r.Name] = r
	}
	for _, r := range results {
		r.VsHTTP = against(r, floors["floor-http"])
		r.VsSign = against(r, floors["floor-sign-"+r.SignAlg])
	}
}

func against(r, floor *result) *ratio {
	if floor == nil || !r.measured() || !floor.measured() || floor.CPUPerRequest == 0 || floor.RPS == 0 {
		return nil
	}
	return &ratio{CPU: r.CPUPerRequest / floor.CPUPerRequest, Throughput: r.RPS / floor.RPS}
}

// writeTable prints the report as a table.
func writeTable(w io.Writer, results []*result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tp99.9\terrors\t401s\tcpu µs/req\tpeak RSS\tstartup\tcpu×http\tcpu×sign\tnote")
	for _, r := range results {
		if !r.measured() {
			// As many cells as a measured row, or tabwriter starts new columns.
			fmt.Fprintf(tw, "%s%s%s\n", r.Name, strings.Repeat("\t-", 11)+"\t", firstLine(firstOf(r.Skipped, "FAILED: "+r.Failed)))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%.0f\t%.1f MB\t%s\t%s\t%s\t%s\n", r.Name, r.RPS,
			ms(r.P50), ms(r.P99), ms(r.P999), r.Errors, r.Rejected, r.CPUPerRequest, float64(r.PeakRSS)/(1<<20),
			ms(r.StartupMS), times(r.VsHTTP), times(r.VsSign), r.Note)
	}
	return tw.Flush()
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// firstLine is s up to its first line break (the JSON has all of it).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ms formats milliseconds with three significant figures or so.
func ms(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

func times(r *ratio) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", r.CPU)
}

// writeJSON writes the report to path.
func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
