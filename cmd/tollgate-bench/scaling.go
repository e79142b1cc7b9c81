package main

import (
	"fmt"
	"math"
	"strings"
)

// Sizes of the scaling series.
var (
	scalingUsers = []int{10, 10_000, 100_000}
	scalingRules = []int{10, 1_000, 10_000}
)

// scalingTolerance is how far from the smallest size of its series a
// result may be before it is flagged.
const scalingTolerance = 0.20

// scalingScenarios are the cached scenario over growing user files and
// ACLs, and the API-token scenario over a growing token table, in SQLite
// and (when pgtest.DSNEnv names a server) in PostgreSQL.
func scalingScenarios(o options) []scenario {
	var out []scenario
	for _, n := range scalingUsers {
		out = append(out, scenario{name: fmt.Sprintf("users-%d", n), family: "users", size: n,
			spec: serverSpec{alg: defaultAlg, extraUsers: n - 1}, load: cachedLoad})
	}
	for _, n := range scalingRules {
		out = append(out, scenario{name: fmt.Sprintf("acl-%d", n), family: "acl", size: n,
			spec: serverSpec{alg: defaultAlg, aclRules: n}, load: cachedLoad})
	}
	for _, pg := range []bool{false, true} {
		store := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		for _, n := range []int{1, o.tokens} {
			out = append(out, scenario{name: fmt.Sprintf("tokens-%s-%d", store, n), family: "tokens-" + store, size: n,
				spec: serverSpec{alg: defaultAlg}, needs: needAPIToken, fillTokens: n - 1, postgres: pg, load: apiTokenLoad})
		}
	}
	return out
}

// flagScaling notes, on every result of a series, how its throughput and
// CPU per request compare with the series' smallest size, and flags those
// off by more than scalingTolerance.
func flagScaling(results []*result) {
	smallest := map[string]*result{}
	for _, r := range results {
		if r.Family == "" || !r.measured() {
			continue
		}
		if s, ok := smallest[r.Family]; !ok || r.Size < s.Size {
			smallest[r.Family] = r
		}
	}
	for _, r := range results {
		base, ok := smallest[r.Family]
		if !ok || r == base || !r.measured() {
			continue
		}
		r.Note = compareScaling(r, base)
	}
}

func compareScaling(r, base *result) string {
	rps := r.RPS/base.RPS - 1
	cpu := r.CPUPerRequest/base.CPUPerRequest - 1
	note := fmt.Sprintf("vs %d: req/s %+.0f%%, cpu %+.0f%%", base.Size, 100*rps, 100*cpu)
	var off []string
	if math.Abs(rps) > scalingTolerance {
		off = append(off, "req/s")
	}
	if math.Abs(cpu) > scalingTolerance {
		off = append(off, "cpu")
	}
	if len(off) > 0 {
		r.OutsideTolerance = true
		note += " OUTSIDE ±20% (" + strings.Join(off, ", ") + ")"
	}
	return note
}
