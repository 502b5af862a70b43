package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/textfile"
)

// fixture is internal/metrics' host tree.
func fixture(t *testing.T) (root, cfg string) {
	t.Helper()
	root, err := filepath.Abs("../metrics/testdata/host")
	if err != nil {
		t.Fatal(err)
	}
	return root, filepath.Join(root, "etc/server-impermanence/config.toml")
}

type units struct{}

func (units) Properties(_ context.Context, unit, iface string) (map[string]any, error) {
	if iface == "Unit" {
		return map[string]any{"LoadState": "loaded", "ActiveState": "active"}, nil
	}
	return map[string]any{"Result": "success", "ExecMainStatus": int32(0),
		"LastTriggerUSec": uint64(1767225600000000), "NextElapseUSecRealtime": uint64(1767229200000000)}, nil
}

// startExporter runs the exporter in-process on a loopback port and returns
// its address and a stop function that sends SIGTERM and waits for exit 0.
func startExporter(t *testing.T) (string, func()) {
	t.Helper()
	return startExporterWith(t, Limits{}, units{})
}

// startExporterWith is startExporter with limits and a unit source.
func startExporterWith(t *testing.T, lim Limits, systemd metrics.UnitSource, args ...string) (string, func()) {
	t.Helper()
	root, cfg := fixture(t)
	ready := make(chan string, 1)
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- Run(append([]string{"--config", cfg, "--listen", "127.0.0.1:0"}, args...), Deps{
			Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now,
			Systemd: systemd, Ready: func(a string) { ready <- a }, Signals: sigs, Limits: lim,
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exporter exited %d: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("exporter not ready after 10s")
	}
	return addr, func() {
		sigs <- syscall.SIGTERM
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exporter exit code after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("exporter did not stop after SIGTERM")
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAndPromtool(t *testing.T) {
	addr, stop := startExporter(t)
	defer stop()
	code, body := get(t, "http://"+addr+"/")
	if code != 200 || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("GET / = %d %q, want 200 and a link to /metrics", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	code, body = get(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	for _, want := range []string{`impermanence_snapshots{kind="timeline",subvolume="@persist"} 4`,
		`impermanence_collector_success{collector="systemd"} 1`, `impermanence_unit_active_state{state="active",unit="server-snapshots.timer"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtool := tool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestTextfile(t *testing.T) {
	root, cfg := fixture(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := Run([]string{"--config", cfg, "--textfile", dir}, Deps{Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now}); code != 0 {
		t.Fatalf("--textfile exit %d: %s", code, stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != textfile.Name {
		t.Fatalf("textfile dir holds %v, want only %s", entries, textfile.Name)
	}
	fi, _ := os.Stat(filepath.Join(dir, textfile.Name))
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, textfile.Name))
	if bytes.Contains(b, []byte("impermanence_unit_")) {
		t.Error("textfile contains systemd unit metrics; node_exporter has its own systemd collector")
	}
	if !bytes.Contains(b, []byte(`impermanence_archives{subvolume="@root"} 4`)) {
		t.Errorf("textfile lacks the archive count:\n%s", b)
	}
}

// TestTextfileSIGTERM: --textfile given SIGTERM (the job unit stopped
// while its ExecStopPost= runs) ends its write, which replaces the file
// whole, and says it was stopped; it was killed silently.
func TestTextfileSIGTERM(t *testing.T) {
	root, cfg := fixture(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	if code := Run([]string{"--config", cfg, "--textfile", dir}, Deps{Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now, Signals: sigs}); code != 0 {
		t.Fatalf("--textfile exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `level=WARN msg="stopped by SIGTERM after the textfile was written"`) {
		t.Errorf("nothing says the stop:\n%s", stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != textfile.Name {
		t.Fatalf("textfile dir holds %v, want only %s", entries, textfile.Name)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, textfile.Name)); !bytes.Contains(b, []byte(`impermanence_archives{subvolume="@root"} 4`)) {
		t.Errorf("textfile lacks the archive count:\n%s", b)
	}
}

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"--version"}, Deps{Stdout: &out, Stderr: &errb}); code != 0 || !strings.HasPrefix(out.String(), "impermanence-exporter ") {
		t.Errorf("--version = %d %q", code, out.String())
	}
	if code := Run([]string{"--help"}, Deps{Stdout: &out, Stderr: &errb}); code != 0 || !strings.Contains(errb.String(), "--textfile") {
		t.Errorf("--help = %d %q", code, errb.String())
	}
	if code := Run([]string{"--bogus"}, Deps{Stdout: &out, Stderr: &errb}); code != 2 {
		t.Errorf("--bogus = %d, want 2", code)
	}
	for _, tc := range []struct{ in, want string }{
		{"--textfile /d", "--textfile --textfile-dir /d"},
		{"--textfile --config x", "--textfile --config x"},
		{"--textfile", "--textfile"},
	} {
		if got := strings.Join(textfileArg(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("textfileArg(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// buildExporter builds the binary once per test run.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "impermanence-exporter")
	cmd := exec.Command("go", "build", "-o", bin, "../../exporter")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSocketActivationAndNotify runs the binary under systemd-socket-activate
// with a NOTIFY_SOCKET: it serves on the passed socket, says READY=1, and
// exits 0 with STOPPING=1 on SIGTERM.
func TestSocketActivationAndNotify(t *testing.T) {
	ssa := tool(t, "systemd-socket-activate")
	bin := buildExporter(t)
	_, cfg := fixture(t)
	nsock := filepath.Join(t.TempDir(), "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	port := freePort(t)
	cmd := exec.Command(ssa, "-l", fmt.Sprintf("127.0.0.1:%d", port), "-E", "NOTIFY_SOCKET="+nsock,
		bin, "--config", cfg, "--no-systemd", "--listen", "127.0.0.1:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// systemd-socket-activate starts the program on the first connection.
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET on the activated socket: %v\n%s", err, stderr.String())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("impermanence_build_info")) {
		t.Errorf("GET /metrics on the activated socket = %d:\n%.300s", resp.StatusCode, b)
	}
	buf := make([]byte, 4096)
	nl.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := nl.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Errorf("notify = %q, %v, want READY=1", buf[:n], err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	n, err = nl.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "STOPPING=1") {
		t.Errorf("notify = %q, %v, want STOPPING=1", buf[:n], err)
	}
}

// TestTextfileConfiguredDir is what the job units' ExecStopPost= runs:
// --textfile without a directory writes into [exporter].textfile_dir,
// creating it (0755) when missing; textfile_dir = "" writes nothing.
func TestTextfileConfiguredDir(t *testing.T) {
	root, fixtureCfg := fixture(t)
	base, err := os.ReadFile(fixtureCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		want      []string // files in the parent of dir afterwards
	}{
		{"missing directory", "node-exporter", []string{"node-exporter/", "node-exporter/" + textfile.Name}},
		{"disabled", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cfgDir := t.TempDir()
			cfg := filepath.Join(cfgDir, "config.toml")
			dir := ""
			if tc.dir != "" {
				dir = filepath.Join(tmp, tc.dir)
			}
			os.MkdirAll(filepath.Join(cfgDir, "config.d"), 0o755)
			if err := errors.Join(os.WriteFile(cfg, base, 0o644), os.WriteFile(filepath.Join(cfgDir, "config.d/textfile.toml"),
				fmt.Appendf(nil, "[exporter]\ntextfile_dir = %q\n", dir), 0o644)); err != nil {
				t.Fatal(err)
			}
			t.Chdir(tmp) // a file written at a relative path shows up too
			var stderr bytes.Buffer
			if code := Run([]string{"--config", cfg, "--textfile"}, Deps{Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now}); code != 0 {
				t.Fatalf("--textfile exit %d: %s", code, stderr.String())
			}
			if stderr.Len() > 0 { // e.g. the configuration not used: the default dir is the host's
				t.Fatalf("--textfile stderr: %s", stderr.String())
			}
			var got []string
			filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == tmp {
					return err
				}
				rel, _ := filepath.Rel(tmp, p)
				if d.IsDir() {
					rel += "/"
					if fi, _ := d.Info(); fi.Mode().Perm() != 0o755 {
						t.Errorf("%s: mode %v, want 0755", rel, fi.Mode().Perm())
					}
				}
				got = append(got, rel)
				return nil
			})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if tc.dir != "" {
				b, _ := os.ReadFile(filepath.Join(dir, textfile.Name))
				if !bytes.Contains(b, []byte(`impermanence_archives{subvolume="@root"} 4`)) {
					t.Errorf("textfile lacks the archive count:\n%s", b)
				}
			}
		})
	}
}
