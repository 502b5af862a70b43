package send

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// progsMajor reads the version once per binary: again only when the
// binary changed, and never a wrong cached answer.
func TestProgsMajorCache(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "btrfs")
	if err := os.WriteFile(bin, []byte("v6"), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, progsCache)
	calls := 0
	out := "btrfs-progs v6.2\n"
	var fail error
	version := func() ([]byte, error) { calls++; return []byte(out), fail }
	step := func(name string, wantMajor, wantCalls int) {
		t.Helper()
		if got := progsMajor(cache, bin, version); got != wantMajor || calls != wantCalls {
			t.Errorf("%s: major %d after %d runs of --version, want %d after %d", name, got, calls, wantMajor, wantCalls)
		}
	}
	step("first run", 6, 1)
	step("cached", 6, 1)
	// An upgrade replaces the binary: read again.
	out = "btrfs-progs v7.0\n"
	os.Remove(bin)
	os.WriteFile(bin, []byte("v7 longer"), 0o755)
	os.Chtimes(bin, time.Now(), time.Now().Add(time.Hour))
	step("replaced binary", 7, 2)
	step("cached again", 7, 2)
	// A damaged cache is read around, not believed.
	os.WriteFile(cache, []byte("garbage"), 0o644)
	step("damaged cache", 7, 3)
	os.WriteFile(cache, []byte(binKey(bin)+"\nnot-a-number\n"), 0o644)
	step("bad number", 7, 4)
	// No answer: unknown, nothing cached.
	os.Remove(cache)
	out, fail = "", errors.New("exec failed")
	step("version fails", -1, 5)
	out, fail = "no version here", nil
	step("no version in output", -1, 6)
	if _, err := os.Stat(cache); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unknown version was cached: %v", err)
	}
	// A cache directory that cannot be written: still the answer.
	out = "btrfs-progs v6.2\n"
	if got := progsMajor(filepath.Join(dir, "missing", progsCache), bin, version); got != 6 {
		t.Errorf("unwritable cache: %d, want 6", got)
	}
}
