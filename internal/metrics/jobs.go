package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Jobs are the jobs whose state records the exporter reads. The rollback
// runs in the initrd and records under the run dir (this boot); the others
// record under the state dir. restore is impermanence-restore, run by hand;
// send is impermanence-send, whose per-target records this source serves
// too (collectTargets).
var Jobs = []string{"rollback", "snapshot", "cleanup", "maintenance", "scrub", "balance", "restore", "send"}

// Results are the results a record can hold; impermanence_job_last_result
// has one series per result.
var Results = []string{state.ResultSuccess, state.ResultFailure, state.ResultSkipped, state.ResultRefused, state.ResultInterrupted}

var (
	jobLastRunDesc = desc("job_last_run_timestamp_seconds", "Start of the job's last run.", "job_name")
	jobLastOKDesc  = desc("job_last_success_timestamp_seconds", "Start of the job's last successful run.", "job_name")
	jobDurDesc     = desc("job_last_duration_seconds", "Duration of the job's last run.", "job_name")
	jobResultDesc  = desc("job_last_result",
		"1 for the result of the job's last run (success, failure, skipped, refused, interrupted), 0 for the others.", "job_name", "result")
	jobRunsDesc     = desc("job_runs_total", "Runs of the job by result, over the life of its state record.", "job_name", "result")
	jobCountDesc    = desc("job_last_value", "Job-specific figures of the last run (the counters of its state record).", "job_name", "key")
	rollbackNowDesc = desc("rollback_this_boot",
		"1 if the initrd rollback left a record at this boot (/run/server-impermanence/rollback.json), 0 if not.")
	scrubBytesDesc  = desc("scrub_last_scrubbed_bytes", "Bytes verified by the last scrub, by kind (data, tree; all when the record has only the sum).", "kind")
	scrubErrorsDesc = desc("scrub_last_errors", "Errors found by the last scrub, by type.", "type")
)

type jobsSource struct{}

func (jobsSource) name() string { return "jobs" }

func (jobsSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobLastRunDesc, jobLastOKDesc, jobDurDesc, jobResultDesc,
		jobRunsDesc, jobCountDesc, rollbackNowDesc, scrubBytesDesc, scrubErrorsDesc} {
		ch <- d
	}
	for _, d := range targetDescs {
		ch <- d
	}
}

func (jobsSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	var errs []error
	for _, job := range Jobs {
		rec, err := state.Read(s.opts.Paths.StateDir, job)
		if job == "rollback" {
			var rerr error
			rec, rerr = state.Read(s.opts.Paths.RunDir, job)
			this := 1.0
			if errors.Is(rerr, fs.ErrNotExist) {
				this = 0
				rec, rerr = state.Read(s.opts.Paths.StateDir, job)
			}
			gauge(ch, rollbackNowDesc, this)
			err = rerr
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // never ran
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", job, err))
			continue
		}
		collectRecord(ch, job, rec)
	}
	errs = append(errs, collectTargets(s, ch))
	return errors.Join(errs...)
}

func collectRecord(ch chan<- prometheus.Metric, job string, rec state.Record) {
	if !rec.LastRun.IsZero() {
		gauge(ch, jobLastRunDesc, unixSeconds(rec.LastRun), job)
		gauge(ch, jobDurDesc, rec.Duration, job)
	}
	if !rec.LastSuccess.IsZero() {
		gauge(ch, jobLastOKDesc, unixSeconds(rec.LastSuccess), job)
	}
	results := Results
	if rec.Result != "" && !slices.Contains(results, rec.Result) {
		results = append(slices.Clone(results), rec.Result)
	}
	for _, r := range results {
		v := 0.0
		if r == rec.Result {
			v = 1
		}
		gauge(ch, jobResultDesc, v, job, r)
	}
	for _, r := range sortedKeys(rec.Runs) {
		counter(ch, jobRunsDesc, float64(rec.Runs[r]), job, r)
	}
	for _, k := range sortedKeys(rec.Counters) {
		v := float64(rec.Counters[k])
		gauge(ch, jobCountDesc, v, job, k)
		if job != "scrub" {
			continue
		}
		switch {
		case k == "data_bytes_scrubbed" || k == "tree_bytes_scrubbed":
			gauge(ch, scrubBytesDesc, v, strings.TrimSuffix(k, "_bytes_scrubbed"))
		case k == "bytes_scrubbed": // internal/maintain records data+tree as one figure
			gauge(ch, scrubBytesDesc, v, "all")
		case strings.HasSuffix(k, "_errors"):
			gauge(ch, scrubErrorsDesc, v, strings.TrimSuffix(k, "_errors"))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
