// Command impermanence-rollback resets the ephemeral subvolumes at boot.
// See internal/rollback.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/rollback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := rollback.Run(ctx, os.Args[1:], rollback.Env{})
	stop()
	os.Exit(code)
}
