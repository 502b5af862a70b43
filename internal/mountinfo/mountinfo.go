// Package mountinfo reads /proc/self/mountinfo (proc(5)): the one parser of
// the mount table for every command and test of the suite. It imports only
// the standard library, so the generator can read the mount table without
// the ioctls of internal/btrfs.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID         int    // mount id
	Dev        string // "major:minor" of the filesystem, shared by all its mounts
	Root       string // the mounted directory inside the filesystem, e.g. "/@root"
	Mountpoint string
	// Options are the per-mount options, e.g. "ro", "noatime"; Optional
	// are the optional fields, the propagation tags such as "shared:1" or
	// "master:7" (none for a private mount).
	Options  []string
	Optional []string
	FSType   string
	Source   string
	SubvolID uint64 // btrfs: subvolid= of the super options, 0 otherwise
}

// Parse parses a mountinfo table, undoing its octal escapes ("\040" for a
// space).
func Parse(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		m, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

// Read parses the mount table at path (/proc/self/mountinfo, or a copy
// in a test's tree).
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	m, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read mounts from %s: %w", path, err)
	}
	return m, nil
}

// At returns the mount at mountpoint that is visible: the last one in the
// table (a later mount on the same point hides the earlier ones).
func At(mounts []Mount, mountpoint string) (Mount, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Mountpoint == mountpoint {
			return mounts[i], true
		}
	}
	return Mount{}, false
}

// parseLine parses
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - btrfs /dev/sda rw,subvolid=5,subvol=/".
func parseLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+4 {
		return Mount{}, fmt.Errorf("malformed %q", line)
	}
	id, err := strconv.Atoi(f[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount id: %w", err)
	}
	m := Mount{
		ID:         id,
		Dev:        f[2],
		Root:       unescapeOctal(f[3]),
		Mountpoint: unescapeOctal(f[4]),
		Options:    splitOptions(f[5]),
		FSType:     f[sep+1],
		Source:     unescapeOctal(f[sep+2]),
	}
	if sep > 6 {
		m.Optional = f[6:sep:sep]
	}
	if m.FSType != "btrfs" {
		return m, nil
	}
	for opt := range strings.SplitSeq(f[sep+3], ",") {
		if v, ok := strings.CutPrefix(opt, "subvolid="); ok {
			if m.SubvolID, err = strconv.ParseUint(v, 10, 64); err != nil {
				return Mount{}, fmt.Errorf("subvolid: %w", err)
			}
		}
	}
	return m, nil
}

// splitOptions splits a comma-separated option list, undoing the escapes of
// each option (a comma in a value is "\054").
func splitOptions(s string) []string {
	opts := strings.Split(s, ",")
	for i, o := range opts {
		opts[i] = unescapeOctal(o)
	}
	return opts
}

// unescapeOctal replaces the kernel's \ooo escapes by their bytes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }
