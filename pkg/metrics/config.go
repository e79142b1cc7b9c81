package metrics

import "github.com/prometheus/client_golang/prometheus"

// reloads are the gauges of configuration reloads, named like Prometheus's
// own prometheus_config_last_reload_*, so that the usual alert applies:
// tollgate_config_last_reload_successful == 0.
type reloads struct {
	successful prometheus.Gauge
	successAt  prometheus.Gauge
}

func newReloads(reg prometheus.Registerer) reloads {
	r := reloads{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_successful",
			Help: "1 if the configuration loaded at start or by the last reload (SIGHUP) was applied, 0 if the last reload was refused.",
		}),
		successAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded and applied (at start or by a reload), in Unix seconds.",
		}),
	}
	reg.MustRegister(r.successful, r.successAt)
	return r
}

// ConfigReloaded records how loading the configuration ended: at start
// (ok), and on every reload. A refused reload sets the gauge to 0 and
// leaves the time of the last success.
func (m *Metrics) ConfigReloaded(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloads.successful.Set(0)
		return
	}
	m.reloads.successful.Set(1)
	m.reloads.successAt.Set(float64(m.now().UnixNano()) / 1e9)
}
