// Command impermanence-rollback resets the ephemeral subvolumes at boot.
// See internal/rollback.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/rollback"
)

func main() { job.Main(rollback.Run) }
