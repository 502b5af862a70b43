package snapshot_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// fill fills the data space with one file, then the metadata space with
// xattrs, until the filesystem answers ENOSPC.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling data: %v, want ENOSPC", err)
	}
	p := filepath.Join(dir, "xattrs")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v := []byte(strings.Repeat("v", 3900))
	for i := 0; ; i++ {
		if err = unix.Setxattr(p, fmt.Sprintf("user.a%d", i), v, 0); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling metadata: %v, want ENOSPC", err)
	}
}

func TestSnapshotENOSPC(t *testing.T) {
	l := jobtest.New(t, btrfstest.Size(128<<20))
	fill(t, filepath.Join(l.FS.Mount, "@persist"))
	code := run(t, l, "--label", "full", "--expire", "1d")
	if code != 1 {
		t.Fatalf("snapshot on a full filesystem: exit %d, want 1\n%s%s", code, l.Out, l.Err)
	}
	out := l.Out.String() + l.Err.String()
	for _, want := range []string{"no space left on the filesystem for the snapshot of", "(ENOSPC)", "snapshots failed", "MESSAGE_ID=f0beacfd5f9f47728f9e2a855e345f27"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Whatever failed left nothing behind: no snapshot and no sidecar.
	failed := map[string]bool{}
	for line := range strings.Lines(l.Out.String()) {
		if p, ok := strings.CutPrefix(line, "FAILED "); ok {
			p, _, _ = strings.Cut(p, ":")
			failed[p] = true
			if _, err := os.Lstat(filepath.Join(l.FS.Mount, p)); err == nil {
				t.Errorf("partial snapshot %s left behind", p)
			}
			if _, err := os.Lstat(snapshot.MetaPath(filepath.Join(l.FS.Mount, p))); err == nil {
				t.Errorf("sidecar of failed snapshot %s left behind", p)
			}
		}
	}
	if len(failed) == 0 {
		t.Errorf("no snapshot reported as failed:\n%s", l.Out)
	}
	rec, err := state.Read(l.Env.StateDir(), "snapshot")
	if err != nil || rec.Result != state.ResultFailure {
		t.Errorf("state record %+v, %v; want a failure", rec, err)
	}
}
