package config

import "testing"

// TestTextfileDirOutsideKernelTrees: a textfile directory in /proc or /sys
// is refused (no file can be created there); /run and /dev/shm are tmpfs
// and fine.
func TestTextfileDirOutsideKernelTrees(t *testing.T) {
	for in, want := range map[string]string{
		"/proc":                             `"/proc" is at or below /proc, a kernel interface where no textfile can be written`,
		"/proc/sys/vm":                      `"/proc/sys/vm" is at or below /proc, a kernel interface where no textfile can be written`,
		"/sys/kernel":                       `"/sys/kernel" is at or below /sys, a kernel interface where no textfile can be written`,
		"/system":                           "",
		"/run/prometheus":                   "",
		"/dev/shm/metrics":                  "",
		"/var/lib/prometheus/node-exporter": "",
		"relative":                          `"relative" is not an absolute path`,
	} {
		f := mustField("exporter.textfile_dir")
		if got := f.check(in); got != want {
			t.Errorf("textfile_dir check(%q) = %q, want %q", in, got, want)
		}
	}
}
