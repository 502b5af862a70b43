package notify

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		unit string
		loop bool
	}{
		{"server-snapshots.service", false},
		{"server-impermanence-send@usb.service", false},
		{"server-impermanence-failure@server-snapshots.service.service", true},
		{"server-impermanence-notify@server-snapshots.service.service", true},
		{"server-impermanence-failure.service", false},
	} {
		if got := Refusal(c.unit) != ""; got != c.loop {
			t.Errorf("Refusal(%q) refuses = %v, want %v", c.unit, got, c.loop)
		}
	}
}

func TestMessage(t *testing.T) {
	f := Facts{Unit: "server-snapshots.service", Host: "web1", Result: "exit-code", InvocationID: "0123abcd",
		Journal: "2026-01-01T03:00:00+0000 web1 impermanence-snapshot[42]: snapshot @persist failed: no space left on device\n"}
	none := Facts{Unit: "btrfs-maintenance.service", Host: "web1", Problems: []string{"unit properties: connect to systemd: no bus"}}
	var b bytes.Buffer
	for _, x := range []Facts{f, none} {
		b.WriteString("== environment\n")
		for _, e := range Environ(x) {
			b.WriteString(strconv.Quote(e) + "\n")
		}
		b.WriteString("== message\n" + Message(x))
	}
	golden(t, "message.golden", b.Bytes())
}

func TestClip(t *testing.T) {
	long := strings.Repeat("0123456789abcde\n", MaxJournal/16+10)
	got := clip(long)
	if len(got) > MaxJournal || !strings.HasPrefix(got, "0123") || !strings.HasSuffix(long, got) {
		t.Errorf("clip: %d bytes, starting %q", len(got), got[:min(len(got), 20)])
	}
	if clip("short\n") != "short\n" {
		t.Error("clip changed a short journal")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got; -update to accept):\n%s", path, d)
	}
}

// fakeUnits is a UnitSource over a fixed table, keyed "unit/iface".
type fakeUnits map[string]map[string]any

func (f fakeUnits) Properties(_ context.Context, unit, iface string) (map[string]any, error) {
	if p, ok := f[unit+"/"+iface]; ok {
		return p, nil
	}
	return nil, errors.New("no such unit " + unit)
}

var units = fakeUnits{
	"server-snapshots.service/Unit":    {"ActiveState": "failed", "InvocationID": []byte{0xde, 0xad, 0xbe, 0xef}},
	"server-snapshots.service/Service": {"Result": "exit-code"},
}

// recorder writes a shell script that records its arguments, environment
// and standard input into dir, then runs tail (a shell command).
func recorder(t *testing.T, dir, tail string) string {
	t.Helper()
	p := filepath.Join(dir, "notify.sh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + dir + "/args\nenv > " + dir + "/env\ncat > " + dir + "/stdin\n" + tail + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a configuration with the [notify] table body.
func writeConfig(t *testing.T, dir, notify string) string {
	t.Helper()
	p := filepath.Join(dir, "config.toml")
	cfg := "device = \"/dev/disk/by-label/server\"\n\n[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n\n[notify]\n" + notify
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type journalCall struct {
	unit, invocation string
	n                int
}

func runNotify(t *testing.T, calls *[]journalCall, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Env: job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir(), Journal: func() bool { return false }},
		Units: units, Hostname: func() (string, error) { return "web1", nil },
		ReadJournal: func(_ context.Context, unit, inv string, n int) (string, error) {
			if calls != nil {
				*calls = append(*calls, journalCall{unit, inv, n})
			}
			return "line 1\nline 2\n", nil
		}}
	code := Run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunRecordsEnvironment runs a real command that records what it gets.
func TestRunRecordsEnvironment(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `command = ["`+recorder(t, dir, "echo sent to ops")+`", "-s", "a unit failed", "ops@example.org"]`+"\njournal_lines = 7\n")
	var calls []journalCall
	code, out, errOut := runNotify(t, &calls, "--config", cfg, "server-snapshots.service")
	if code != job.ExitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	if want := []journalCall{{"server-snapshots.service", "deadbeef", 7}}; !slices.Equal(calls, want) {
		t.Errorf("journal read %v, want %v", calls, want)
	}
	if got, want := readFile(t, filepath.Join(dir, "args")), "-s\na unit failed\nops@example.org\n"; got != want {
		t.Errorf("args %q, want %q", got, want)
	}
	env := strings.Split(readFile(t, filepath.Join(dir, "env")), "\n")
	for _, want := range []string{"IMPERMANENCE_UNIT=server-snapshots.service", "IMPERMANENCE_RESULT=exit-code",
		"IMPERMANENCE_HOST=web1", "IMPERMANENCE_INVOCATION_ID=deadbeef", "IMPERMANENCE_JOURNAL=line 1", "line 2"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment has no %q:\n%s", want, strings.Join(env, "\n"))
		}
	}
	want := "server-snapshots.service failed on web1 (exit-code).\n\nThe last lines of its journal:\n\nline 1\nline 2\n\n" +
		"More: journalctl -u server-snapshots.service; systemctl status server-snapshots.service; impermanence-status\n"
	if got := readFile(t, filepath.Join(dir, "stdin")); got != want {
		t.Errorf("stdin:\n%s\nwant:\n%s", got, want)
	}
	for _, w := range []string{"msg=notified", "MESSAGE_ID=" + msgid.NotifySent, "output=\"sent to ops\"", "unit=server-snapshots.service"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("log has no %q:\n%s", w, errOut)
		}
	}
}

func TestRunOutcomes(t *testing.T) {
	for _, c := range []struct {
		name   string
		notify string // the [notify] body; RECORDER is the recording script
		tail   string // the recorder's last command
		unit   string
		code   int
		ran    bool
		log    []string
	}{
		{"no command", "command = []\n", "", "server-snapshots.service", job.ExitOK, false, []string{"no [notify].command"}},
		{"failure handler", `command = ["RECORDER"]`, "", "server-impermanence-failure@server-snapshots.service.service", job.ExitOK, false,
			[]string{"never notified (no loop)", "MESSAGE_ID=" + msgid.NotifyFailed}},
		{"notify unit", `command = ["RECORDER"]`, "", "server-impermanence-notify@server-snapshots.service.service", job.ExitOK, false,
			[]string{"never notified (no loop)"}},
		{"command fails", `command = ["RECORDER"]`, "echo mailer down >&2; exit 3", "server-snapshots.service", job.ExitFailure, true,
			[]string{"notification failed", "exit status 3", "MESSAGE_ID=" + msgid.NotifyFailed, `output="mailer down"`}},
		{"command missing", `command = ["/nonexistent/notify"]`, "", "server-snapshots.service", job.ExitFailure, false,
			[]string{"notification failed: /nonexistent/notify:", "no such file or directory"}},
		{"unknown unit", `command = ["RECORDER"]`, "", "other.service", job.ExitOK, true, []string{"msg=notified", "result=\"\""}},
		{"invalid config", `command = [""]`, "", "server-snapshots.service", job.ExitFailure, false,
			[]string{"the configuration is not usable", "notify.command: an empty argument"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := recorder(t, dir, c.tail)
			cfg := writeConfig(t, dir, strings.ReplaceAll(c.notify, "RECORDER", rec)+"\n")
			code, _, errOut := runNotify(t, nil, "--config", cfg, c.unit)
			if code != c.code {
				t.Errorf("exit %d, want %d; log:\n%s", code, c.code, errOut)
			}
			_, err := os.Stat(filepath.Join(dir, "env"))
			if ran := err == nil; ran != c.ran {
				t.Errorf("command ran: %v, want %v", ran, c.ran)
			}
			for _, w := range c.log {
				if !strings.Contains(errOut, w) {
					t.Errorf("log has no %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRunTimeout: a command that outlives the timeout is killed with the
// children it started, and the run fails after about the timeout.
func TestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	rec := recorder(t, dir, "sleep 60 & echo $! > "+dir+"/child; wait")
	cfg := writeConfig(t, dir, `command = ["`+rec+`"]`+"\ntimeout = \"1s\"\n")
	start := time.Now()
	code, _, errOut := runNotify(t, nil, "--config", cfg, "server-snapshots.service")
	took := time.Since(start)
	if code != job.ExitFailure || !strings.Contains(errOut, "killed after the timeout of 1s") {
		t.Errorf("exit %d, log:\n%s", code, errOut)
	}
	if took < time.Second || took > 10*time.Second {
		t.Errorf("took %s, want about 1s", took)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "child"))))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %d outlived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `command = ["/usr/bin/mail", "-s", "a unit failed", "root"]`+"\n")
	code, out, errOut := runNotify(t, nil, "--config", cfg, "--dry-run", "server-snapshots.service")
	if code != job.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "dry-run.golden", []byte(out))
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "impermanence-notify: want one UNIT, got []\n"},
		{[]string{"a.service", "b.service"}, "impermanence-notify: want one UNIT, got [\"a.service\" \"b.service\"]\n"},
		{[]string{"--config", "", "a.service"}, "impermanence-notify: --config \"\": an empty path\n"},
		{[]string{""}, "impermanence-notify: want one UNIT, got [\"\"]\n"},
	} {
		code, out, errOut := runNotify(t, nil, c.args...)
		if code != job.ExitUsage || out != "" || errOut != c.msg {
			t.Errorf("Run(%q) = %d, %q, %q; want %d, \"\", %q", c.args, code, out, errOut, job.ExitUsage, c.msg)
		}
	}
}

// TestBinary runs the built impermanence-notify as its unit would, on this
// machine's own systemd and journalctl (or without them: the notification
// goes out all the same, saying what could not be read).
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "impermanence-notify")
	build := exec.Command("go", "build", "-o", bin, "../../helpers/notify")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := writeConfig(t, dir, `command = ["`+recorder(t, dir, "")+`"]`+"\n")
	cmd := exec.Command(bin, "--config", cfg, "server-impermanence-test-nonexistent.service")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	env := readFile(t, filepath.Join(dir, "env"))
	for _, want := range []string{"IMPERMANENCE_UNIT=server-impermanence-test-nonexistent.service\n", "IMPERMANENCE_HOST="} {
		if !strings.Contains(env, want) {
			t.Errorf("environment has no %q:\n%s", want, env)
		}
	}
	if stdin := readFile(t, filepath.Join(dir, "stdin")); !strings.HasPrefix(stdin, "server-impermanence-test-nonexistent.service failed on ") {
		t.Errorf("stdin:\n%s", stdin)
	}
	t.Logf("output:\n%s\nstdin:\n%s", out, readFile(t, filepath.Join(dir, "stdin")))
}
