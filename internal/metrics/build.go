package metrics

import (
	"context"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

var buildInfoDesc = desc("build_info", "Version of server-impermanence, always 1.", "version", "goversion")

type buildSource struct{ version string }

func (buildSource) name() string { return "build" }

func (buildSource) describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }

func (b buildSource) collect(_ context.Context, _ *scrape, ch chan<- prometheus.Metric) error {
	gauge(ch, buildInfoDesc, 1, b.version, runtime.Version())
	return nil
}
