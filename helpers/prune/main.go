// Command impermanence-prune deletes snapshots and archives by retention.
// See internal/prune.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/prune"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := prune.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
