// Command server-impermanence-generator is the systemd generator of
// server-impermanence. See internal/generator.
package main

import (
	"os"

	"github.com/server-impermanence/server-impermanence/internal/generator"
)

func main() { os.Exit(generator.Run(os.Args[1:], generator.DefaultEnv())) }
