// Command bench-io compares the I/O of a stock btrfs server with the
// suite's layout in each performance mode: a database (PostgreSQL's
// pgbench), container-like trees and random overwrites, log appends and
// sequential files, on a filesystem made afresh for every measurement.
// scripts/bench-io.sh runs it (make bench-io); docs/performance.md
// describes the method and the figures.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now})
	stop()
	os.Exit(code)
}
