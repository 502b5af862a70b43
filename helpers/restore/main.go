// Command impermanence-restore restores a permanent subvolume, or single
// paths, from a snapshot. See internal/restore.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/restore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := restore.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
