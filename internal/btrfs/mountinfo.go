package btrfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo (proc(5)).
type Mount struct {
	ID         int    // mount id
	Dev        string // "major:minor" of the filesystem, shared by all its mounts
	Root       string // the mounted directory inside the filesystem, e.g. "/@root"
	Mountpoint string
	FSType     string
	Source     string
	SubvolID   uint64 // btrfs: subvolid= of the super options, 0 otherwise
}

// ParseMountinfo parses a mountinfo table, undoing its octal escapes
// ("\040" for a space).
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		m, err := parseMountinfoLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

// parseMountinfoLine parses
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - btrfs /dev/sda rw,subvolid=5,subvol=/".
func parseMountinfoLine(line string) (Mount, error) {
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
		FSType:     f[sep+1],
		Source:     unescapeOctal(f[sep+2]),
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

// MountedSubvolumes returns the mounts of the filesystem that the mount with
// id mountID belongs to, keyed by subvolume id (subvolid=, which survives
// renames, unlike subvol=). All mounts of one filesystem share the
// major:minor of the mountinfo entry; a bind mount of a directory inside a
// subvolume counts for that subvolume.
func MountedSubvolumes(mountinfo io.Reader, mountID int) (map[uint64][]Mount, error) {
	mounts, err := ParseMountinfo(mountinfo)
	if err != nil {
		return nil, err
	}
	var self *Mount
	for i := range mounts {
		if mounts[i].ID == mountID {
			self = &mounts[i]
		}
	}
	if self == nil || self.FSType != "btrfs" {
		return nil, fmt.Errorf("no btrfs mount with id %d in mountinfo", mountID)
	}
	byID := map[uint64][]Mount{}
	for _, m := range mounts {
		if m.FSType != "btrfs" || m.Dev != self.Dev {
			continue
		}
		if m.SubvolID == 0 { // kernels before 4.x; we cannot tell, so refuse
			return nil, fmt.Errorf("btrfs mount %s without subvolid=", m.Mountpoint)
		}
		byID[m.SubvolID] = append(byID[m.SubvolID], m)
	}
	return byID, nil
}

// MountedSubvolumes returns the subvolumes of this filesystem that are
// mounted anywhere in this mount namespace, keyed by subvolume id, from the
// mountinfo file given to Open (default /proc/self/mountinfo).
func (fs *FS) MountedSubvolumes() (map[uint64][]Mount, error) {
	f, err := os.Open(fs.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("mounted subvolumes: %w", err)
	}
	defer f.Close()
	m, err := MountedSubvolumes(f, fs.mountID)
	if err != nil {
		return nil, fmt.Errorf("mounted subvolumes from %s: %w", fs.mountinfo, err)
	}
	return m, nil
}
