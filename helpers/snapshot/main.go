// Command impermanence-snapshot takes read-only snapshots of the configured
// subvolumes and lists them. See internal/snapshot.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := snapshot.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
