// Command impermanence-receive is the target side of an SSH target, run by
// sshd as a forced command. See internal/receive.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/receive"
)

func main() { job.Main(receive.Run) }
