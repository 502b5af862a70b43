// Command impermanence-restore restores a permanent subvolume, or single
// paths, from a snapshot. See internal/restore.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/restore"
)

func main() { job.Main(restore.Run) }
