package metrics

import (
	"testing"
	"time"
)

func TestConfigReloaded(t *testing.T) {
	m, reg := newTest(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	now := start
	m.now = func() time.Time { return now }
	const ok, at = "tollgate_config_last_reload_successful", "tollgate_config_last_reload_success_timestamp_seconds"

	m.ConfigReloaded(true) // the start
	if got := value(t, reg, ok); got != 1 {
		t.Errorf("%s = %v after start, want 1", ok, got)
	}
	if got := value(t, reg, at); got != float64(start.Unix()) {
		t.Errorf("%s = %v, want %v", at, got, start.Unix())
	}
	now = start.Add(time.Minute)
	m.ConfigReloaded(false)
	if got := value(t, reg, ok); got != 0 {
		t.Errorf("%s = %v after a refused reload, want 0", ok, got)
	}
	if got := value(t, reg, at); got != float64(start.Unix()) {
		t.Errorf("%s = %v after a refused reload, want the last success %v", at, got, start.Unix())
	}
	now = start.Add(2 * time.Minute)
	m.ConfigReloaded(true)
	if got := value(t, reg, ok); got != 1 {
		t.Errorf("%s = %v after a good reload, want 1", ok, got)
	}
	if got := value(t, reg, at); got != float64(now.Unix()) {
		t.Errorf("%s = %v, want %v", at, got, now.Unix())
	}
	var none *Metrics
	none.ConfigReloaded(true) // a nil Metrics does nothing
}
