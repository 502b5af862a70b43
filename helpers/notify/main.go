// Command impermanence-notify runs the configured [notify].command for a
// unit of the suite that failed (server-impermanence-notify@.service). See
// internal/notify.
package main

import (
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/notify"
)

func main() { job.Main(notify.Run) }
