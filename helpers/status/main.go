// Command impermanence-status says whether this server is healthy: the
// problems first, each with the commands that explain or fix it, then the
// facts; --json for scripts; the exit status for a monitoring check. See
// internal/status.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/status"
)

func main() { job.Main(status.Run) }
