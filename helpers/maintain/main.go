// Command impermanence-maintain balances, scrubs and reads device errors.
// See internal/maintain.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := maintain.Run(ctx, os.Args[1:], job.Env{})
	stop()
	os.Exit(code)
}
