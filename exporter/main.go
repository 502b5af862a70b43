// Command impermanence-exporter serves the server-impermanence metrics on
// HTTP /metrics, or with --textfile writes them for node_exporter.
package main

import (
	"os"

	"github.com/server-impermanence/server-impermanence/internal/exporter"
)

func main() { os.Exit(exporter.Main(os.Args[1:])) }
