// Command impermanence-send replicates snapshots to the configured
// targets and lists what each side holds. See internal/send.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/send"
)

func main() { job.Main(send.Run) }
