package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// MountTopLevel mounts the top level (subvolid=5) of device as a detached
// mount (fsopen, fsconfig, fsmount: nosuid, nodev, noexec; read-only when
// asked) that is never attached to the mount tree: no other process sees
// it, and it goes with the process's descriptors however the process ends,
// SIGKILL included, so a killed job leaves no mount behind. The returned
// path reaches it through the descriptor (/proc/<pid>/fd/<n>, which child
// processes such as cp can follow too); the returned function closes the
// descriptor, which unmounts it once nothing else holds it. Messages show
// paths below it as ShowPath does.
func MountTopLevel(device string, readOnly bool) (string, func() error, error) {
	fail := func(step string, fsfd int, err error) error {
		if msg := fsMessages(fsfd); msg != "" {
			err = fmt.Errorf("%w (%s)", err, msg)
		}
		return fmt.Errorf("mount top level of %s: %s: %w", device, step, err)
	}
	fsfd, err := unix.Fsopen("btrfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return "", nil, fail("fsopen", -1, err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", device); err != nil {
		return "", nil, fail("source", fsfd, err)
	}
	if err := unix.FsconfigSetString(fsfd, "subvolid", "5"); err != nil {
		return "", nil, fail("subvolid=5", fsfd, err)
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if readOnly {
		if err := unix.FsconfigSetFlag(fsfd, "ro"); err != nil {
			return "", nil, fail("ro", fsfd, err)
		}
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return "", nil, fail("create", fsfd, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return "", nil, fail("fsmount", fsfd, err)
	}
	f := os.NewFile(uintptr(mfd), "top level of "+device)
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), mfd)
	detached.Store(path, device)
	unmount := func() error {
		detached.Delete(path)
		return f.Close()
	}
	return path, unmount, nil
}

// ReceiveCommand is `btrfs receive -e -C dest` (-e: stop at the end
// command; -C: chrooted into dest) as a program and its arguments.
// btrfs receive resolves its destination with realpath(3) first, which
// cannot resolve a path through the descriptor of a detached top-level
// mount (MountTopLevel: a restore's fetch on a server without --mount
// failed with "realpath(/proc/<pid>/fd/<n>/…) failed"). For such a path it
// runs in a mount namespace of its own (unshare(1), private propagation)
// where the top level is mounted again on an empty directory: no other
// process sees that mount, and it goes with the namespace when btrfs
// receive ends or is killed. cleanup removes the directory.
func ReceiveCommand(dest string) (name string, args []string, cleanup func(), err error) {
	dev, rel, ok := Below(dest)
	if !ok {
		return "btrfs", []string{"receive", "-e", "-C", dest}, func() {}, nil
	}
	mnt, err := os.MkdirTemp("", "impermanence-receive-")
	if err != nil {
		return "", nil, nil, fmt.Errorf("create the mount point of btrfs receive's top level: %w", err)
	}
	const script = `mount -n -t btrfs -o subvolid=5,nosuid,nodev,noexec "$1" "$2" && exec btrfs receive -e -C "$2$3"`
	return "unshare", []string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", dev, mnt, rel},
		func() { os.Remove(mnt) }, nil
}

// fsMessages reads what the kernel logged on the filesystem context fd
// ("e ...", "w ..." lines), for an error message.
func fsMessages(fd int) string {
	if fd < 0 {
		return ""
	}
	var msgs []string
	buf := make([]byte, 1024)
	for range 8 {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	return strings.Join(msgs, "; ")
}

// staleName is the directory name older versions mounted the top level on
// in the run directory: <job>-<digits> (os.MkdirTemp).
var staleName = regexp.MustCompile(`^[a-z]+(-[a-z]+)*-[0-9]+$`)

// RemoveStaleMounts removes what older versions, which attached the top
// level to a directory of runDir, left there when they were killed: each
// btrfs mount on a directory named <job>-<digits> directly in runDir whose
// filesystem is fsid (detached lazily: a process still working through it
// keeps its descriptors), and each such directory once empty. Call it with
// the filesystem's job lock held, so no job of that filesystem is using
// its mount. It returns the mountpoints it detached.
func RemoveStaleMounts(mountinfoPath, runDir string, fsid UUID) ([]string, error) {
	mounts, err := mountinfo.Read(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("stale mounts in %s: %w", runDir, err)
	}
	var removed []string
	var errs []error
	for _, m := range mounts {
		if m.FSType != "btrfs" || filepath.Dir(m.Mountpoint) != filepath.Clean(runDir) || !staleName.MatchString(filepath.Base(m.Mountpoint)) {
			continue
		}
		if id, err := mountFSID(m.Mountpoint); err != nil || id != fsid {
			continue
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("detach stale mount %s: %w", m.Mountpoint, err))
			continue
		}
		removed = append(removed, m.Mountpoint)
	}
	entries, _ := os.ReadDir(runDir)
	for _, e := range entries {
		if e.IsDir() && staleName.MatchString(e.Name()) {
			os.Remove(filepath.Join(runDir, e.Name())) // only when empty: not a mountpoint any more
		}
	}
	return removed, errors.Join(errs...)
}

// mountFSID is the UUID of the btrfs filesystem mounted at dir.
func mountFSID(dir string) (UUID, error) {
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return UUID{}, err
	}
	defer f.Close()
	return fsidOf(f)
}

// fsInfoArgs is struct btrfs_ioctl_fs_info_args (1024 bytes); only the
// fsid is read.
type fsInfoArgs struct {
	MaxID, NumDevices uint64
	FSID              UUID
	_                 [1024 - 32]byte
}

var iocFSInfo = ioc(iocRead, 31, unsafe.Sizeof(fsInfoArgs{}))

// fsidOf is the UUID of the btrfs filesystem f is on (BTRFS_IOC_FS_INFO).
func fsidOf(f *os.File) (UUID, error) {
	var a fsInfoArgs
	if err := ioctl(f, iocFSInfo, unsafe.Pointer(&a)); err != nil {
		return UUID{}, err
	}
	return a.FSID, nil
}
