package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// postgres is Debian's PostgreSQL server: its binaries and its user.
type postgres struct {
	bin      string // /usr/lib/postgresql/<version>/bin
	uid, gid uint32
}

// findPostgres returns the installed PostgreSQL server, or skips: unless
// IMPERMANENCE_REQUIRE_TOOLS is set (make test, CI), where its absence
// fails the test (scripts/install-deps.sh installs postgresql).
func findPostgres(t *testing.T) postgres {
	t.Helper()
	missing := func(why string) {
		msg := "PostgreSQL server not available (" + why + "): apt-get install postgresql, or scripts/install-deps.sh"
		if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		missing("no /usr/lib/postgresql/*/bin/postgres")
	}
	sort.Strings(bins)
	u, err := user.Lookup("postgres")
	if err != nil {
		missing("no user postgres")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return postgres{bin: filepath.Dir(bins[len(bins)-1]), uid: uint32(uid), gid: uint32(gid)}
}

// run runs a PostgreSQL program as the postgres user.
func (pg postgres) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: pg.uid, Gid: pg.gid}}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PGTZ=UTC"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPostgresCheckpointHook: a real PostgreSQL whose data directory is on
// a btrfs subvolume, a pre_snapshot hook that runs CHECKPOINT as the
// postgres user, and the snapshot restored (a writable snapshot of it,
// as impermanence-restore makes) starts as a database with every
// committed row and the hook's checkpoint as its last one.
func TestPostgresCheckpointHook(t *testing.T) {
	pg := findPostgres(t)
	l := jobtest.New(t)
	// pg_ctl's server outlives pg_ctl: made our child, it is reaped when
	// it stops (an init that does not reap would leave a zombie whose PID
	// the restored postmaster.pid names, and the restored server would
	// take it for a server still running).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	const sv = "@var-lib-services"
	top := l.FS.Mount
	for _, d := range []string{filepath.Dir(top), top, filepath.Join(top, sv)} {
		if err := os.Chmod(d, 0o755); err != nil { // the postgres user passes through
			t.Fatal(err)
		}
	}
	data := filepath.Join(top, sv, "pgdata")
	sock := t.TempDir()
	for _, d := range []string{data, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(d, int(pg.uid), int(pg.gid))
	}
	os.Chmod(filepath.Dir(sock), 0o755)
	port := strconv.Itoa(54320 + os.Getpid()%1000)
	pg.run(t, "initdb", "--pgdata", data, "--username", "postgres", "--auth", "trust", "--no-sync", "--no-instructions")
	start := func(data, port string) {
		t.Helper()
		defer func() {
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(sock, "log-"+port))
				t.Logf("server log:\n%s", b)
			}
		}()
		pg.run(t, "pg_ctl", "--pgdata", data, "--wait", "--timeout", "30", "--log", filepath.Join(sock, "log-"+port),
			"--options", "-c listen_addresses='' -c unix_socket_directories="+sock+" -p "+port+" -c fsync=on", "start")
	}
	stop := func(data, mode string) {
		pg.run(t, "pg_ctl", "--pgdata", data, "--mode", mode, "--wait", "stop")
		// Reap the stopped server and its processes (nothing else of ours
		// runs now).
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); err != nil {
				return // no child left
			} else if pid == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	psql := func(port, sql string) string {
		return strings.TrimSpace(pg.run(t, "psql", "-h", sock, "-p", port, "-U", "postgres", "-d", "postgres", "-XAtq", "-c", sql))
	}
	start(data, port)
	running := true
	t.Cleanup(func() {
		if running {
			stop(data, "immediate")
		}
	})
	psql(port, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
	psql(port, "CHECKPOINT")
	// Rows the last checkpoint does not cover: the hook's CHECKPOINT does.
	psql(port, "INSERT INTO t SELECT g, 'after' FROM generate_series(20001, 25000) g")
	before := psql(port, "SELECT checkpoint_lsn FROM pg_control_checkpoint()")

	psqlBin := filepath.Join(pg.bin, "psql")
	drop := fmt.Sprintf(`
[[subvolume]]
name          = %q
pre_snapshot  = [%q, "-h", %q, "-p", %q, "-U", "postgres", "-d", "postgres", "-XAtq", "-c", "CHECKPOINT"]
post_snapshot = [%q, "-h", %q, "-p", %q, "-U", "postgres", "-d", "postgres", "-XAtq", "-c", "SELECT 1"]
hook_user     = "postgres"
hook_timeout  = "20s"
`, sv, psqlBin, sock, port, psqlBin, sock, port)
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "config.toml")
	if err := os.WriteFile(cfg, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(cfgDir, "config.d"), 0o755)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.d", "10-db.toml"), []byte(drop), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Reset()
	if code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", top, "--json", sv}, l.Env); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s\n%s", code, l.Out, l.Err)
	}
	var rep snapshot.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Snapshots[0]
	if !r.OK || len(r.Hooks) != 2 || !r.Hooks[0].OK() || !r.Hooks[1].OK() {
		t.Fatalf("snapshot of %s: %+v; want it taken between two successful hooks", sv, r)
	}
	after := psql(port, "SELECT checkpoint_lsn FROM pg_control_checkpoint()")
	if after == before {
		t.Errorf("the pre-hook made no checkpoint (checkpoint_lsn still %s)", before)
	}
	// The server keeps running; a restore stops it first, then brings the
	// snapshot back writable, as impermanence-restore does.
	stop(data, "immediate")
	running = false
	restored := filepath.Join(top, "restored")
	if out, err := exec.Command("btrfs", "subvolume", "snapshot", filepath.Join(top, r.Path), restored).CombinedOutput(); err != nil {
		t.Fatalf("btrfs subvolume snapshot: %v\n%s", err, out)
	}
	rdata := filepath.Join(restored, "pgdata")
	control := pg.run(t, "pg_controldata", rdata)
	m := regexp.MustCompile(`(?m)^Latest checkpoint location:\s+(\S+)$`).FindStringSubmatch(control)
	if m == nil || m[1] != after {
		t.Errorf("the snapshot's last checkpoint is %v, want the hook's %s:\n%s", m, after, control)
	}
	port2 := strconv.Itoa(55320 + os.Getpid()%1000)
	t0 := time.Now()
	start(rdata, port2)
	t.Cleanup(func() { stop(rdata, "fast") })
	if got := psql(port2, "SELECT count(*), count(*) FILTER (WHERE v = 'after') FROM t"); got != "25000|5000" {
		t.Errorf("restored database holds %q rows (all, written after the first checkpoint), want 25000|5000", got)
	}
	if got := psql(port2, "SELECT pg_is_in_recovery()"); got != "f" {
		t.Errorf("restored database in recovery: %s", got)
	}
	t.Logf("restored database started in %s", time.Since(t0).Round(time.Millisecond))
}
