// Command impermanence-provision creates the configured btrfs layout.
// See internal/provision.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := provision.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
