// Command impermanence-diff lists what the next boot will erase: what in
// the live ephemeral subvolumes differs from their blanks and is not
// persisted, and orphans on the persist subvolume. See internal/diff.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := diff.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
