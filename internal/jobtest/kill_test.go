package jobtest_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/jobtest"
)

// TestSIGKILLLeavesNoMount kills every job that mounts the top level
// (through a private mount of the device, as the units run them) at random
// points of its run: no mount of it is left, the next run succeeds, and
// once the filesystem's own mount is gone the loop device detaches, which
// it cannot while any mount of it lives.
func TestSIGKILLLeavesNoMount(t *testing.T) {
	const kills = 6
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 2))
	for _, j := range jobs {
		t.Run(j.program, func(t *testing.T) {
			sg := setUp(t, j.program, j.record)
			dev, root := sg.l.FS.Device, sg.l.Env.Root
			before := jobtest.MountsOf(t, dev, root)
			sg.prepare(t)
			p := start(t, j.program, root, sg.args...)
			t0 := time.Now()
			if err := <-p.done; err != nil {
				t.Fatalf("a run: %v\n%s", err, p.output())
			}
			took := time.Since(t0)
			for i := range kills {
				sg.prepare(t)
				delay := time.Duration(rnd.Int64N(int64(took * 5 / 4)))
				p := start(t, j.program, root, sg.args...)
				time.Sleep(delay)
				p.cmd.Process.Kill()
				<-p.done
				if diff := cmp.Diff(before, jobtest.MountsOf(t, dev, root)); diff != "" {
					t.Errorf("kill %d after %s left mounts (-before +after):\n%s", i, delay, diff)
				}
			}
			sg.prepare(t)
			next := start(t, j.program, root, sg.args...)
			if err := <-next.done; err != nil {
				t.Errorf("the run after the kills: %v\n%s", err, next.output())
			}
			// The filesystem's own mounts go; then nothing holds the device.
			for _, m := range slices.Backward(jobtest.MountsOf(t, dev, root)) {
				if err := unix.Unmount(m, 0); err != nil {
					t.Fatalf("unmount %s: %v", m, err)
				}
			}
			if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
				t.Fatalf("losetup --detach %s: %v: %s", dev, err, out)
			}
			backing := filepath.Join("/sys/block", filepath.Base(dev), "loop/backing_file")
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, err := os.Stat(backing); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still attached 5s after the kills and the unmount: something holds it", dev)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("%d kills within %s runs; %s detached", kills, took.Round(time.Millisecond), dev)
		})
	}
}
