package plan

import "github.com/server-impermanence/server-impermanence/internal/cmdline"

// Cmdline is a parsed kernel command line (internal/cmdline).
type Cmdline = cmdline.Cmdline

// ParseCmdline parses a kernel command line.
func ParseCmdline(s string) Cmdline { return cmdline.Parse(s) }

// DevicePath turns a fstab-style device spec into a /dev path.
func DevicePath(spec string) string { return cmdline.DevicePath(spec) }
