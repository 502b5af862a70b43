package job

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main is the body of every helper's main: it runs run with the process's
// arguments, the zero environment (the host's defaults) and a context that
// SIGTERM or SIGINT cancels (Stopped says why), and exits with run's code.
// After the signal the run has stopGrace to end at a safe point; then Main
// says so (journal, job record) and exits 1 itself. A second signal ends
// the process at once.
func Main[E any](run func(ctx context.Context, args []string, env E) int) {
	os.Exit(runMain(run, os.Args[1:], stopGrace))
}

func runMain[E any](run func(ctx context.Context, args []string, env E) int, args []string, grace time.Duration) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan int, 1)
	go func() {
		var env E
		done <- run(ctx, args, env)
	}()
	select {
	case code := <-done:
		return code
	case sig := <-sigs:
		cause := stopCause{sig}
		cancel(cause)
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		select {
		case code := <-done:
			return code
		case <-time.After(grace):
			forcedStop(cause, grace)
			return ExitFailure
		}
	}
}
