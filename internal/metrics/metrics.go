package metrics

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

const namespace = "impermanence"

// Paths are the host paths the collectors read; Root prefixes the mountpoints
// found in the mount table (the snapshots mount, a top-level mount).
type Paths struct {
	Root      string // "/" on a host
	Sysfs     string // /sys
	Mountinfo string // /proc/self/mountinfo
	Config    string // /etc/server-impermanence/config.toml
	StateDir  string // /var/lib/server-impermanence
	RunDir    string // /run/server-impermanence
	Dev       string // /dev, to resolve the configured device's symlinks
}

// PathsAt returns the standard paths beneath root.
func PathsAt(root string) Paths {
	j := func(p string) string { return filepath.Join(root, p) }
	return Paths{
		Root:      root,
		Sysfs:     j("/sys"),
		Mountinfo: j("/proc/self/mountinfo"),
		Config:    j(config.DefaultPath),
		StateDir:  j(state.DefaultDir),
		RunDir:    j(state.RunDir),
		Dev:       j("/dev"),
	}
}

// host returns the path of the host path p (a mountpoint from the mount table).
func (p Paths) host(hostPath string) string { return filepath.Join(p.Root, hostPath) }

// Options configure a Collector.
type Options struct {
	Paths Paths
	// Now is the clock, read once per scrape.
	Now func() time.Time
	// Systemd, when set, adds the job health read from systemd over D-Bus.
	Systemd UnitSource
	// Version is the build version for impermanence_build_info.
	Version string
	Logger  *slog.Logger
	// Timeout bounds the D-Bus calls of one scrape.
	Timeout time.Duration
	// OnError, when set, receives every error of a source in every
	// collection (impermanence-status reports them; the log has only the
	// changes).
	OnError func(collector string, err error)
}

// source is one independent part of the metrics.
type source interface {
	name() string
	describe(ch chan<- *prometheus.Desc)
	collect(ctx context.Context, s *scrape, ch chan<- prometheus.Metric) error
}

// Collector is the collect-on-scrape prometheus.Collector of the suite.
type Collector struct {
	opts    Options
	sources []source

	// failing holds the sources whose last collection failed, so that a
	// persistent failure is logged when it starts and when it ends, not
	// at every scrape (the collector_success metric carries it).
	mu      sync.Mutex
	failing map[string]bool
}

var (
	successDesc = prometheus.NewDesc(namespace+"_collector_success",
		"1 if the collector's source was read without error in this scrape, 0 if not (its other metrics may be missing or partial).",
		[]string{"collector"}, nil)
	durationDesc = prometheus.NewDesc(namespace+"_collector_duration_seconds",
		"Time the collector took in this scrape.", []string{"collector"}, nil)
)

// New returns the collector; register it in a pedantic registry.
func New(opts Options) *Collector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	c := &Collector{opts: opts, failing: map[string]bool{}}
	c.sources = []source{
		buildSource{version: opts.Version},
		configSource{},
		jobsSource{},
		snapshotsSource{},
		archivesSource{},
		blanksSource{},
		filesystemSource{},
		scrubSource{},
		overheadSource{},
	}
	if opts.Systemd != nil {
		c.sources = append(c.sources, systemdSource{units: opts.Systemd})
	}
	return c
}

// NewRegistry returns a pedantic registry holding a Collector made from opts.
func NewRegistry(opts Options) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(opts))
	return reg
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- successDesc
	ch <- durationDesc
	for _, s := range c.sources {
		s.describe(ch)
	}
}

// Collect implements prometheus.Collector: every source in turn, each
// reporting its own success.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	s := newScrape(c.opts)
	for _, src := range c.sources {
		start := time.Now()
		err := src.collect(ctx, s, ch)
		ok := 1.0
		if err != nil {
			ok = 0
		}
		c.logChange(src.name(), err)
		if err != nil && c.opts.OnError != nil {
			c.opts.OnError(src.name(), err)
		}
		ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, ok, src.name())
		ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), src.name())
	}
}

// logChange logs a source that starts failing (with the error) and one
// that recovers; it says nothing while a source stays as it was.
func (c *Collector) logChange(name string, err error) {
	c.mu.Lock()
	was := c.failing[name]
	c.failing[name] = err != nil
	c.mu.Unlock()
	switch {
	case err != nil && !was:
		c.opts.Logger.Warn("collector failing", "collector", name, "error", err)
	case err == nil && was:
		c.opts.Logger.Info("collector recovered", "collector", name)
	}
}

// gauge and counter shorten the const-metric calls.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// unixSeconds is t as a Prometheus timestamp value.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
