package vmtest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Scenario 13: the hooks through a real apt, dpkg and systemd
// (scenarios/hooks.sh), one boot of a default install: the Debian
// package's apt hooks around apt-get install and remove of local packages
// (labelled, expiring snapshots and the notice once per apt run; nothing
// at all while unconfigured), pre_snapshot and post_snapshot hooks run as
// another user in their transient units by server-snapshots.service (a
// hook that succeeds, one that fails, one that hangs past hook_timeout),
// and [notify].command for each failed run, then a notify command that
// fails, with no loop. The host then finds the apt snapshots on the disk.
func TestHooksAptSnapshotNotify(t *testing.T) {
	onSuites(t, false, 240, func(t *testing.T, img image) {
		start := time.Now()
		m := newMachine(t, img, "hooks.sh")
		// One long boot (about 4 min of guest time under TCG, more on a
		// loaded host): twice the default bound.
		m.boot(bootOpts{timeout: 600 * time.Second})
		m.readImage(func(top string) {
			// install and remove: one apt run each, one snapshot each
			hostEq(t, 1, "ha.apt-snapshots-on-disk", globCount(filepath.Join(top, "@snapshots/@persist/*-apt")), "2")
			hostEq(t, 1, "ha.apt-sidecars-on-disk", globCount(filepath.Join(top, "@snapshots/@persist/.*-apt.json")), "2")
		})
		outs := m.finish("13 apt/snapshot hooks/notify", start, map[int]int{1: 93})
		mt := outs[1].metrics
		metricsRow(fmt.Sprintf("13 apt/snapshot hooks/notify (%s): apt-get install %ss, DPkg::Pre-Invoke run %s time(s) by it; the run with a hung pre-hook %ss (hook_timeout 4 s)",
			img.suite, trim(mt["apt_install_seconds"]), mt["apt_install_pre_invokes"], trim(mt["hang_job_seconds"])))
	})
}
