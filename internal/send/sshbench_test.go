package send

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSSHThroughput measures a full send of one subvolume over SSH on
// loopback, without and with zstd on the connection, with the CPU time of
// the sending side (this process and its children: ssh, zstd).
// Only with IMPERMANENCE_SSH_BENCH=1 (a benchmark, not a check):
//
//	IMPERMANENCE_SSH_BENCH=1 go test ./internal/send -run TestSSHThroughput -v
func TestSSHThroughput(t *testing.T) {
	if os.Getenv("IMPERMANENCE_SSH_BENCH") == "" {
		t.Skip("a benchmark: IMPERMANENCE_SSH_BENCH=1 runs it")
	}
	const size = 256 << 20
	for _, compress := range []string{"none", "zstd"} {
		t.Run(compress, func(t *testing.T) {
			r := newSSHRig(t, fmt.Sprintf("compress = %q\n", compress))
			// Half random (incompressible), half text-like.
			line := []byte("2026-12-07T01:00:00Z web1 nginx[811]: GET /index.html 200 1532\n")
			text := bytes.Repeat(line, size/2/len(line)+1)
			r.snapshot(t, map[string][]byte{"random": random(size/2, 77), "log": text[:size/2]})
			var before, after, selfBefore, self syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
			syscall.Getrusage(syscall.RUSAGE_SELF, &selfBefore)
			t0 := time.Now()
			out := r.send(t, 0)
			secs := time.Since(t0).Seconds()
			syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
			syscall.Getrusage(syscall.RUSAGE_SELF, &self)
			cpu := func(u syscall.Rusage) float64 {
				return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
			}
			sender := cpu(after) - cpu(before) + cpu(self) - cpu(selfBefore)
			t.Logf("compress=%s: %d MiB in %.1f s = %.1f MiB/s; sender CPU (send ioctl, ssh, zstd): %.1f s = %.1f s/GiB; %s",
				compress, size>>20, secs, float64(size>>20)/secs, sender, sender/(float64(size)/(1<<30)), strings.TrimSpace(out))
			r.checkSame(t, strings.Fields(out)[2][len("@persist/"):])
		})
	}
}
