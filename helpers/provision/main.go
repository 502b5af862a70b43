// Command impermanence-provision creates the configured btrfs layout.
// See internal/provision.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

func main() { job.Main(provision.Run) }
