// Command impermanence-tune sets each configured subvolume's compression
// property or NoCoW attribute at its mountpoint. See internal/tune.
package main

import (
	"os"

	"github.com/server-impermanence/server-impermanence/internal/tune"
)

func main() { os.Exit(tune.Run(os.Args[1:], tune.Env{})) }
