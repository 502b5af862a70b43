package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Scenario 14: replication through the generated timer's unit to a local
// btrfs target on a second disk, a reboot, and @persist restored from that
// target (scenarios/replication.sh, docs/replication.md). The guest
// formats and mounts the second disk as the operator would; the host
// checks both disks after each power-off: what the target holds, the
// staged request and the state the restore replaced.
func TestReplicationRestore(t *testing.T) {
	onSuites(t, false, 200, func(t *testing.T, img image) {
		start := time.Now()
		m := newMachine(t, img, "replication.sh", machineOpts{spare: "backup"})
		for b := 1; b <= 3; b++ {
			m.boot(bootOpts{})
			m.readSpare(func(top string) {
				// one @persist snapshot more on the target per boot
				hostEq(t, b, "r.target-snapshots", globCount(filepath.Join(top, "web1/@persist/*")), map[int]string{1: "1", 2: "2", 3: "3"}[b])
				hostEq(t, b, "r.target-nothing-incoming", globCount(filepath.Join(top, "web1/.incoming/*/*")), "0")
			})
			m.readImage(func(top string) {
				hostEq(t, b, "r.no-scratch", globCount(filepath.Join(top, ".from-target-*")), "0")
				switch b {
				case 2:
					// staged for the next boot, @persist itself untouched
					req := readTrim(filepath.Join(top, "old_roots/.restore-request.json"))
					hostEq(t, b, "r2.request-staged", boolString(regexp.MustCompile(`"subvolume": *"@persist"`).MatchString(req)), "true")
					hostEq(t, b, "r2.persist-untouched", readTrim(filepath.Join(top, "@persist/vmtest-repl/note")), "damaged")
				case 3:
					hostEq(t, b, "r3.request-done", globCount(filepath.Join(top, "old_roots/.restore-request.json")), "0")
					replaced, _ := filepath.Glob(filepath.Join(top, "old_roots/@persist/*-replaced"))
					hostEq(t, b, "r3.replaced-kept", boolString(len(replaced) == 1), "true")
					if len(replaced) == 1 {
						out, _ := exec.Command("btrfs", "property", "get", "-ts", replaced[0], "ro").CombinedOutput()
						hostEq(t, b, "r3.replaced-ro", strings.TrimSpace(string(out)), "ro=true")
						hostEq(t, b, "r3.replaced-holds-damage", readTrim(filepath.Join(replaced[0], "vmtest-repl/junk")), "junk")
					}
				}
			})
		}
		m.finish("14 replication/restore", start, map[int]int{1: 16, 2: 26, 3: 22})
		// the guest's listing of the target is what the host finds on it
		want := readTrim(filepath.Join(m.dir, "results", "out", "boot3", "target-persist.txt"))
		m.readSpare(func(top string) {
			found, _ := filepath.Glob(filepath.Join(top, "web1/@persist/*"))
			var names []string
			for _, f := range found {
				names = append(names, filepath.Base(f))
			}
			hostEq(t, 3, "r.target-as-listed", strings.Join(names, " "), want)
		})
	})
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// readSpare mounts the machine's spare disk (a btrfs the guest made)
// read-only after power-off, as readImage does the image, and calls fn
// with the mount point.
func (m *machine) readSpare(fn func(top string)) {
	t := m.t
	if m.spare == "" {
		t.Fatal("readSpare: the machine has no spare disk")
	}
	top := filepath.Join(m.dir, "spare-top")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	// no Fatal: a guest that never made the filesystem fails its own checks
	if out, err := exec.Command("mount", "-o", "loop,ro,rescue=nologreplay,subvolid=5", m.spare, top).CombinedOutput(); err != nil {
		t.Errorf("boot %d: host: mount the spare disk: %v %s", len(m.boots), err, out)
		return
	}
	defer func() {
		if out, err := exec.Command("umount", top).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", top, err, out)
		}
	}()
	fn(top)
}
