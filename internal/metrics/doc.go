// Package metrics is the Prometheus side of the suite: one collect-on-scrape
// collector per source (build, config, jobs, snapshots, archives, filesystem,
// scrub, systemd), each reporting impermanence_collector_success{collector=...} so a
// failing source never fails the scrape.
//
// Every source reads files that need neither privileges nor the filesystem's
// top level mounted: sysfs (/sys/fs/btrfs/<fsid>/…), the mount table, the
// state records of internal/state, the snapshot names under /.snapshots and
// the configuration. Every host path is a field of Paths, so tests run on the
// fixture trees in testdata/.
//
// Metric names and labels are contracts (docs/metrics.md lists them; alert
// rules and dashboards depend on them).
package metrics
