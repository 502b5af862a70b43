package job

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main is the body of every helper's main: it runs run with the process's
// arguments, the zero environment (the host's defaults) and a context that
// SIGTERM or SIGINT cancels, and exits with run's code.
func Main[E any](run func(ctx context.Context, args []string, env E) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var env E
	code := run(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
