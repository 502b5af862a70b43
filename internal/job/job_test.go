package job

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

func TestCloseRunsAfterRun(t *testing.T) {
	cfg := config.Default()
	var got *config.Config
	s := &Session{Env: Env{AfterRun: func(c *config.Config, _ *slog.Logger) { got = c }}, Config: cfg, Log: slog.Default()}
	closed := false
	s.closers = append(s.closers, func() error { closed = true; return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed || got != cfg {
		t.Errorf("Close: closers ran %t, AfterRun got %p; want both, with the session's config %p", closed, got, cfg)
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
