// Command impermanence-tune sets each configured subvolume's compression
// property or NoCoW attribute at its mountpoint. See internal/tune.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/tune"
)

func main() { job.Main(tune.Run) }
