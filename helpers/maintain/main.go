// Command impermanence-maintain balances, scrubs and reads device errors.
// See internal/maintain.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
)

func main() { job.Main(maintain.Run) }
