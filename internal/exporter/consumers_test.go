package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitGet polls url until it answers 200 or the deadline passes.
func waitGet(t *testing.T, u string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(u)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNodeExporterReadsTextfile: the real node_exporter's textfile collector
// accepts our file: no scrape error, our series present, no error in its log
// (it drops duplicate series with a log line only).
func TestNodeExporterReadsTextfile(t *testing.T) {
	ne := tool(t, "node_exporter")
	root, cfg := fixture(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := Run([]string{"--config", cfg, "--textfile", dir}, Deps{Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now}); code != 0 {
		t.Fatalf("--textfile exit %d: %s", code, stderr.String())
	}
	port := freePort(t)
	var log bytes.Buffer
	cmd := exec.Command(ne, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	body := waitGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), 15*time.Second)
	for _, want := range []string{
		"node_textfile_scrape_error 0",
		`impermanence_snapshots{kind="timeline",subvolume="@persist"} 4`,
		`impermanence_job_last_result{job_name="cleanup",result="failure"} 1`,
		`impermanence_device_errors_total{devid="1",type="read"} 2`,
		`impermanence_collector_success{collector="filesystem"} 1`,
		`node_textfile_mtime_seconds{file="` + filepath.Join(dir, "server_impermanence.prom") + `"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("node_exporter output lacks %s", want)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=error") || strings.Contains(l, "was collected before") {
			t.Errorf("node_exporter logged: %s", l)
		}
	}
}

// TestPrometheusScrapes: a real Prometheus server scrapes the exporter on
// loopback; the target is up and a query returns our series.
func TestPrometheusScrapes(t *testing.T) {
	addr, stop := startExporter(t)
	defer stop()
	prometheusScrapes(t, addr, "")
}

// prometheusScrapes runs a real Prometheus scraping addr with the scrape
// config lines extra (TLS, basic auth) and waits until the target is up
// and a query returns our series.
func prometheusScrapes(t *testing.T, addr, extra string) {
	t.Helper()
	prom := tool(t, "prometheus")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: impermanence
%s    static_configs:
      - targets: ["%s"]
`, extra, addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var log bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=", port)
	waitGet(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port), 20*time.Second)
	query := func(q string) []any {
		resp, err := http.Get(api + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct{ Result []any }
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
			t.Fatalf("query %s: %v %v", q, r.Status, err)
		}
		return r.Data.Result
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		up := query(`up{job="impermanence"} == 1`)
		series := query(`impermanence_snapshots{subvolume="@persist",kind="timeline"} == 4`)
		if len(up) == 1 && len(series) == 1 {
			return
		}
		if time.Now().After(deadline) {
			targets := waitGet(t, fmt.Sprintf("http://127.0.0.1:%d/api/v1/targets", port), time.Second)
			t.Fatalf("after 20s: up=%v series=%v\ntargets: %s\nprometheus log:\n%s", up, series, targets, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
