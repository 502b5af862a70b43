// Package buildinfo holds the version stamped into every binary at build
// time (make build sets Version with -ldflags -X).
package buildinfo

import "runtime/debug"

// Version is set by the linker; "dev" when built without make.
var Version = "dev"

// String returns the version line printed by --version.
func String(program string) string {
	v := Version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return program + " " + v
}
