package job

import (
	"log/slog"
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
