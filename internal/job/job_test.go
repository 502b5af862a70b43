package job

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/state"
)

// TestClose: Close runs the closers in reverse order of opening, once.
func TestClose(t *testing.T) {
	var got []string
	s := &Session{Log: slog.Default()}
	for _, n := range []string{"unmount", "close fs", "unlock", "close audit"} {
		s.closers = append(s.closers, func() error { got = append(got, n); return nil })
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if diff := cmp.Diff([]string{"close audit", "unlock", "close fs", "unmount"}, got); diff != "" {
		t.Errorf("Close order (-want +got):\n%s", diff)
	}
}

func TestPrint(t *testing.T) {
	v := struct {
		A int `json:"a"`
	}{1}
	text := func(w io.Writer) { io.WriteString(w, "text\n") }
	for _, tc := range []struct {
		json bool
		want string
	}{{false, "text\n"}, {true, "{\n  \"a\": 1\n}\n"}} {
		var b strings.Builder
		if err := Print(&b, tc.json, v, text); err != nil || b.String() != tc.want {
			t.Errorf("Print(json=%t) = %q, %v; want %q", tc.json, b.String(), err, tc.want)
		}
	}
}

// TestRegister: --lock-timeout only where the lock is taken, --dry-run only
// where asked for.
func TestRegister(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*Flags, *flag.FlagSet)
		want     []string
	}{
		{"Register(dryRun)", func(f *Flags, fs *flag.FlagSet) { f.Register(fs, true) },
			[]string{"config", "default", "device", "dry-run", "json", "lock-timeout", "mount", "version"}},
		{"Register", func(f *Flags, fs *flag.FlagSet) { f.Register(fs, false) },
			[]string{"config", "default", "device", "json", "lock-timeout", "mount", "version"}},
		{"RegisterReadOnly", func(f *Flags, fs *flag.FlagSet) { f.RegisterReadOnly(fs) },
			[]string{"config", "default", "device", "json", "mount", "version"}},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var f Flags
		tc.register(&f, fs)
		var got []string
		fs.VisitAll(func(fl *flag.Flag) { got = append(got, fl.Name) })
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: flags (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestOpenRunRecordsFailure: a run that cannot even open (here: no
// configuration file) prints the error, calls the job's hook and records the
// failure for the exporter; a dry run records nothing.
func TestOpenRunRecordsFailure(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		dir := t.TempDir()
		var stderr strings.Builder
		env := Env{Stdout: io.Discard, Stderr: &stderr, Root: dir, Journal: func() bool { return false },
			Now: func() time.Time { return time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC) }}
		f := Flags{Config: filepath.Join(dir, "missing.toml"), DryRun: dryRun}
		var hookErr error
		s, err := OpenRun(context.Background(), env, f, "impermanence-test", "test", func(_ *slog.Logger, err error) { hookErr = err })
		if s != nil || err == nil {
			t.Fatalf("dry run %t: OpenRun = %v, %v; want no session and an error", dryRun, s, err)
		}
		if hookErr != err {
			t.Errorf("dry run %t: hook got %v, want %v", dryRun, hookErr, err)
		}
		if !strings.HasPrefix(stderr.String(), "impermanence-test: ") || !strings.Contains(stderr.String(), "missing.toml") {
			t.Errorf("dry run %t: stderr = %q", dryRun, stderr.String())
		}
		r, rerr := state.Read(env.StateDir(), "test")
		switch {
		case dryRun && rerr == nil:
			t.Errorf("dry run: a failure was recorded: %+v", r)
		case !dryRun && (rerr != nil || r.Result != state.ResultFailure || !strings.Contains(r.Error, "missing.toml")):
			t.Errorf("failure record = %+v, %v; want result failure naming the config", r, rerr)
		}
	}
}

// TestEnvPaths: every host path derives from Root, the kernel's views do
// not (the filesystem a helper works on is a real mount).
func TestEnvPaths(t *testing.T) {
	type paths struct{ Run, Lock, State, Audit, Cmdline, Mountinfo string }
	get := func(e Env) paths {
		return paths{e.RunDir(), e.LockDir(), e.StateDir(), e.AuditPath(), e.Path("proc/cmdline"), e.MountinfoPath()}
	}
	for _, tc := range []struct {
		env  Env
		want paths
	}{
		{Env{}, paths{"/run/server-impermanence", "/run/server-impermanence/lock", "/var/lib/server-impermanence",
			"/var/log/server-impermanence/audit.jsonl", "/proc/cmdline", "/proc/self/mountinfo"}},
		{Env{}.WithDefaults(), paths{"/run/server-impermanence", "/run/server-impermanence/lock", "/var/lib/server-impermanence",
			"/var/log/server-impermanence/audit.jsonl", "/proc/cmdline", "/proc/self/mountinfo"}},
		{Env{Root: "/tmp/r", Mountinfo: "testdata/mountinfo"}, paths{"/tmp/r/run/server-impermanence", "/tmp/r/run/server-impermanence/lock",
			"/tmp/r/var/lib/server-impermanence", "/tmp/r/var/log/server-impermanence/audit.jsonl", "/tmp/r/proc/cmdline", "testdata/mountinfo"}},
	} {
		if diff := cmp.Diff(tc.want, get(tc.env)); diff != "" {
			t.Errorf("Env{Root: %q} paths (-want +got):\n%s", tc.env.Root, diff)
		}
	}
}

// TestLockTimeoutDefault: --lock-timeout defaults to DefaultLockTimeout, or
// to what the command set before Register (the rollback's minute).
func TestLockTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		preset time.Duration
		want   string
	}{{0, "30m0s"}, {time.Minute, "1m0s"}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f := Flags{LockTimeout: tc.preset}
		f.Register(fs, false)
		if got := fs.Lookup("lock-timeout").DefValue; got != tc.want {
			t.Errorf("preset %v: --lock-timeout default %s, want %s", tc.preset, got, tc.want)
		}
		if err := fs.Parse(nil); err != nil || f.LockTimeout.String() != tc.want {
			t.Errorf("preset %v: parsed %v, %v; want %s", tc.preset, f.LockTimeout, err, tc.want)
		}
	}
}
