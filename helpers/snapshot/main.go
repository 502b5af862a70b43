// Command impermanence-snapshot takes read-only snapshots of the configured
// subvolumes and lists them. See internal/snapshot.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

func main() { job.Main(snapshot.Run) }
