// Package depstest holds the one test of what each binary and boot-path
// package may link: a table of package, allowed and denied imports, checked
// against `go list -deps`. It has no non-test code.
//
// The generator and the initrd helper (helpers/rollback) keep to the boot
// path: the standard library, golang.org/x/sys, go-systemd's pure packages,
// the TOML parser, the pure btrfs ioctl wrapper and internal/ packages below
// the jobs. The initrd helper links no host job (snapshot, prune, maintain,
// restore, provision, diff), nothing of the exporter and no D-Bus; no host
// job links the rollback; no job links the Prometheus stack (the units
// refresh the textfile with the exporter).
package depstest
