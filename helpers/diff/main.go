// Command impermanence-diff lists what the next boot will erase: what in
// the live ephemeral subvolumes differs from their blanks and is not
// persisted, and orphans on the persist subvolume. See internal/diff.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

func main() { job.Main(diff.Run) }
