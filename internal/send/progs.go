package send

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// compressedSend reports whether the kernel writes stream version 2 and
// btrfs-progs (6.0 and later) receives it. runDir holds the cached
// answer about btrfs-progs (see progsMajor).
func compressedSend(sysfs, runDir string) bool {
	if sysfs == "" {
		sysfs = "/sys"
	}
	if btrfs.SendStreamVersion(sysfs) < 2 {
		return false
	}
	bin, err := exec.LookPath("btrfs")
	if err != nil {
		return false
	}
	return progsMajor(filepath.Join(runDir, progsCache), bin, func() ([]byte, error) {
		return exec.Command(bin, "--version").Output()
	}) >= 6
}

// progsCache is the file in the run directory that keeps btrfs-progs'
// major version with the identity of the binary it was read from.
const progsCache = "btrfs-progs-version"

var progsVersion = regexp.MustCompile(`v([0-9]+)\.`)

// progsMajor returns the major version of the btrfs binary bin, -1 when
// unknown. Running `btrfs --version` costs a process start at every send
// run (a measurable part of a small incremental), so the answer is cached
// in the file cache (a tmpfs, gone at reboot) under the binary's path,
// inode, size and modification time: an upgrade of btrfs-progs replaces
// the file, so the key changes and the version is read again. version runs
// the binary.
func progsMajor(cache, bin string, version func() ([]byte, error)) int {
	key := binKey(bin)
	if key != "" {
		if b, err := os.ReadFile(cache); err == nil {
			if k, v, ok := strings.Cut(strings.TrimSpace(string(b)), "\n"); ok && k == key {
				if n, err := strconv.Atoi(v); err == nil {
					return n
				}
			}
		}
	}
	out, err := version()
	if err != nil {
		return -1
	}
	m := progsVersion.FindSubmatch(out)
	if m == nil {
		return -1
	}
	major, _ := strconv.Atoi(string(m[1]))
	if key != "" {
		// A cache that cannot be written costs the next run a process.
		tmp := fmt.Sprintf("%s.tmp-%d", cache, os.Getpid())
		if os.WriteFile(tmp, fmt.Appendf(nil, "%s\n%d\n", key, major), 0o644) == nil {
			if os.Rename(tmp, cache) != nil {
				os.Remove(tmp)
			}
		}
	}
	return major
}

// binKey identifies the file bin (after symbolic links): "" when it
// cannot be read.
func binKey(bin string) string {
	p, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s dev=%d ino=%d size=%d mtime=%d ctime=%d", p, st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano(), st.Ctim.Nano())
}
