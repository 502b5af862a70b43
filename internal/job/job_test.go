package job

import (
	"io"
	"log/slog"
	"strings"
	"testing"

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
