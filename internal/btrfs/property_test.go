package btrfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestCompressionProperty(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	create(t, fs, "@nix", "@nix/dir/")
	for _, tc := range []struct {
		set, want string
		ok        bool
	}{
		{"zstd", "zstd", true},
		{"lzo", "lzo", true},
		{"zlib", "zlib", true},
		{"none", "none", true},
		{"", "", true},
		{"", "", true}, // removing twice is fine
		{"zstd:3", "", false},
		{"gzip", "", false},
	} {
		err := fs.SetCompression("@nix", tc.set)
		if (err == nil) != tc.ok {
			t.Errorf("SetCompression(@nix, %q) = %v, want ok=%t", tc.set, err, tc.ok)
		}
		if got, err := fs.Compression("@nix"); got != tc.want || err != nil {
			t.Errorf("Compression(@nix) after SetCompression(%q) = %q, %v, want %q", tc.set, got, err, tc.want)
		}
	}
	if err := fs.SetCompression("@nix/dir", "lzo"); err != nil {
		t.Errorf("SetCompression on a directory: %v", err)
	}
}

// TestCompressionEffective writes the same 32 MiB of compressible data into a
// subvolume with compression=zstd and one without, and compares their
// on-disk size with compsize.
func TestCompressionEffective(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@zstd", "@plain")
	if err := fs.SetCompression("@zstd", "zstd"); err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	for i := 0; data.Len() < 32<<20; i++ {
		fmt.Fprintf(&data, "2026-11-25T20:40:%02d server sshd[%d]: Accepted publickey for root from 10.0.0.%d\n", i%60, i, i%250)
	}
	for _, sub := range []string{"@zstd", "@plain"} {
		if err := os.WriteFile(filepath.Join(tfs.Mount, sub, "log"), data.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Commit(); err != nil { // flushes the data to disk
		t.Fatal(err)
	}
	zstd := diskBytes(t, filepath.Join(tfs.Mount, "@zstd/log"))
	plain := diskBytes(t, filepath.Join(tfs.Mount, "@plain/log"))
	t.Logf("32 MiB of log lines on disk: zstd %d bytes, none %d bytes", zstd, plain)
	if plain < uint64(data.Len()) || zstd > plain/4 {
		t.Errorf("on-disk size: zstd %d, none %d; want none >= %d and zstd < none/4", zstd, plain, data.Len())
	}
}

// diskBytes returns the on-disk size of path from `compsize -b`.
func diskBytes(t *testing.T, path string) uint64 {
	t.Helper()
	// TOTAL       3%      1.0M          32M          32M
	for line := range strings.Lines(command(t, "compsize", "-b", path)) {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "TOTAL" {
			n, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("compsize -b %s: no TOTAL line", path)
	return 0
}

func TestNoCoW(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@var-tmp", "@full", "plain/")
	writeFile(t, filepath.Join(tfs.Mount, "@full/data"), "x")

	if err := fs.SetNoCoW("@var-tmp"); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetNoCoW("@var-tmp"); err != nil { // idempotent
		t.Errorf("SetNoCoW again: %v", err)
	}
	create(t, fs, "@var-tmp/dir/")
	writeFile(t, filepath.Join(tfs.Mount, "@var-tmp/dir/file"), "x")
	for _, p := range []string{"@var-tmp", "@var-tmp/dir", "@var-tmp/dir/file"} {
		if got, err := fs.NoCoW(p); !got || err != nil {
			t.Errorf("NoCoW(%s) = %t, %v, want true", p, got, err)
		}
	}
	// lsattr prints "---------------C------ path".
	attrs := strings.Fields(command(t, "lsattr", "-d", filepath.Join(tfs.Mount, "@var-tmp/dir/file")))[0]
	if !strings.Contains(attrs, "C") {
		t.Errorf("lsattr @var-tmp/dir/file = %s, want C", attrs)
	}

	if err := fs.SetNoCoW("@full"); !errors.Is(err, btrfs.ErrNotEmpty) {
		t.Errorf("SetNoCoW(non-empty) = %v, want ErrNotEmpty", err)
	}
	if got, _ := fs.NoCoW("@full"); got {
		t.Errorf("NoCoW(@full) = true after a refused SetNoCoW")
	}
	if err := fs.SetNoCoW("plain"); !errors.Is(err, btrfs.ErrNotSubvolume) {
		t.Errorf("SetNoCoW(plain directory) = %v, want ErrNotSubvolume", err)
	}
	for _, algo := range []string{"zstd", "none"} {
		if err := fs.SetCompression("@var-tmp", algo); !errors.Is(err, unix.EINVAL) {
			t.Errorf("SetCompression(NoCoW subvolume, %s) = %v, want EINVAL", algo, err)
		}
	}
}
