// Command impermanence-prune deletes snapshots and archives by retention.
// See internal/prune.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/prune"
)

func main() { job.Main(prune.Run) }
