package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Balance and scrub through our own ioctls: github.com/dennwc/btrfs cannot
// pass balance filters and throws away the progress a scrub returns.

// balanceArgs is struct btrfs_balance_args (packed, 136 bytes).
type balanceArgs struct {
	Profiles   uint64
	Usage      uint64 // union with usage_min/usage_max (u32 each)
	DevID      uint64
	PStart     uint64
	PEnd       uint64
	VStart     uint64
	VEnd       uint64
	Target     uint64
	Flags      uint64
	Limit      uint64 // union with limit_min/limit_max
	StripesMin uint32
	StripesMax uint32
	_          [6]uint64
}

// BalanceProgress is struct btrfs_balance_progress: chunks expected,
// considered and relocated (completed).
type BalanceProgress struct {
	Expected   uint64
	Considered uint64
	Completed  uint64
}

// balanceIoctlArgs is struct btrfs_ioctl_balance_args (1024 bytes).
type balanceIoctlArgs struct {
	Flags uint64
	State uint64
	Data  balanceArgs
	Meta  balanceArgs
	Sys   balanceArgs
	Stat  BalanceProgress
	_     [72]uint64
}

// ScrubProgress is struct btrfs_scrub_progress, what a scrub of one device
// found.
type ScrubProgress struct {
	DataExtentsScrubbed uint64 `json:"data_extents_scrubbed"`
	TreeExtentsScrubbed uint64 `json:"tree_extents_scrubbed"`
	DataBytesScrubbed   uint64 `json:"data_bytes_scrubbed"`
	TreeBytesScrubbed   uint64 `json:"tree_bytes_scrubbed"`
	ReadErrors          uint64 `json:"read_errors"`
	CsumErrors          uint64 `json:"csum_errors"`
	VerifyErrors        uint64 `json:"verify_errors"`
	NoCsum              uint64 `json:"no_csum"`
	CsumDiscards        uint64 `json:"csum_discards"`
	SuperErrors         uint64 `json:"super_errors"`
	MallocErrors        uint64 `json:"malloc_errors"`
	UncorrectableErrors uint64 `json:"uncorrectable_errors"`
	CorrectedErrors     uint64 `json:"corrected_errors"`
	LastPhysical        uint64 `json:"last_physical"`
	UnverifiedErrors    uint64 `json:"unverified_errors"`
}

// Errors is the sum of the error counters.
func (p ScrubProgress) Errors() uint64 {
	return p.ReadErrors + p.CsumErrors + p.VerifyErrors + p.SuperErrors + p.UncorrectableErrors + p.CorrectedErrors
}

// scrubArgs is struct btrfs_ioctl_scrub_args (1024 bytes).
type scrubArgs struct {
	DevID    uint64
	Start    uint64
	End      uint64
	Flags    uint64
	Progress ScrubProgress
	_        [109]uint64
}

const (
	balanceData     = 1 << 0 // BTRFS_BALANCE_DATA
	balanceSystem   = 1 << 1 // BTRFS_BALANCE_SYSTEM
	balanceMetadata = 1 << 2 // BTRFS_BALANCE_METADATA
	balanceArgUsage = 1 << 1 // BTRFS_BALANCE_ARGS_USAGE
	scrubReadOnly   = 1      // BTRFS_SCRUB_READONLY
)

var (
	iocScrub       = ioc(iocRead|iocWrite, 27, unsafe.Sizeof(scrubArgs{}))
	iocScrubCancel = ioc(iocNone, 28, 0)
	iocBalanceV2   = ioc(iocRead|iocWrite, 32, unsafe.Sizeof(balanceIoctlArgs{}))
	iocBalanceCtl  = ioc(iocWrite, 33, 4) // the argument is the command itself
)

// balanceCtlCancel is BTRFS_BALANCE_CTL_CANCEL.
const balanceCtlCancel = 2

// ErrBusy is returned when another exclusive operation (balance, device
// add/remove/replace, resize, ...) or a scrub is running.
var ErrBusy = errors.New("another exclusive operation is running")

// BalanceUsage relocates the chunks of one type that are at most usage
// percent full: data (metadata false) as `btrfs balance start -dusage=N`,
// or metadata and system as `-musage=N` (progs balances system chunks with
// metadata). It blocks until done and returns the chunks considered and
// relocated.
func (fs *FS) BalanceUsage(metadata bool, usage int) (BalanceProgress, error) {
	var a balanceIoctlArgs
	f := balanceArgs{Flags: balanceArgUsage, Usage: uint64(usage)}
	if metadata {
		a.Flags = balanceMetadata | balanceSystem
		a.Meta, a.Sys = f, f
	} else {
		a.Flags = balanceData
		a.Data = f
	}
	err := ioctlPositive(fs.top, iocBalanceV2, unsafe.Pointer(&a))
	what := "-dusage"
	if metadata {
		what = "-musage"
	}
	if err != nil {
		if isBusy(err) {
			err = fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return a.Stat, fmt.Errorf("balance %s=%d: %w", what, usage, err)
	}
	return a.Stat, nil
}

// Scrub scrubs device devid from physical offset start to the end and
// blocks until it is done or cancelled (ScrubCancel); it returns the
// progress either way, with LastPhysical where to resume. A cancelled scrub
// returns an error matching syscall.ECANCELED.
func (fs *FS) Scrub(devid, start uint64, readOnly bool) (ScrubProgress, error) {
	a := scrubArgs{DevID: devid, Start: start, End: ^uint64(0)}
	if readOnly {
		a.Flags = scrubReadOnly
	}
	err := ioctlPositive(fs.top, iocScrub, unsafe.Pointer(&a))
	if err != nil {
		if isBusy(err) {
			err = fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return a.Progress, fmt.Errorf("scrub device %d from %d: %w", devid, start, err)
	}
	return a.Progress, nil
}

// BalanceCancel cancels the running balance of the filesystem: it returns
// when the balance has stopped (the balance call then fails with
// ECANCELED). With no balance running it fails with ENOTCONN.
func (fs *FS) BalanceCancel() error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fs.top.Fd(), iocBalanceCtl, balanceCtlCancel)
	runtime.KeepAlive(fs.top)
	if errno != 0 {
		return fmt.Errorf("cancel balance: %w", errno)
	}
	return nil
}

// ScrubCancel cancels the running scrubs of the filesystem.
func (fs *FS) ScrubCancel() error {
	if err := ioctl(fs.top, iocScrubCancel, nil); err != nil {
		return fmt.Errorf("cancel scrub: %w", err)
	}
	return nil
}

// ExclusiveOperation returns the exclusive operation running on the
// filesystem from sysfs ("none", "balance", "device add", "resize", ...).
func (fs *FS) ExclusiveOperation() (string, error) {
	b, err := os.ReadFile(filepath.Join(fs.sysfs, "fs/btrfs", fs.fsid.String(), "exclusive_operation"))
	if err != nil {
		return "", fmt.Errorf("exclusive operation: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SysfsDir is /sys/fs/btrfs/<fsid> of the filesystem.
func (fs *FS) SysfsDir() string { return filepath.Join(fs.sysfs, "fs/btrfs", fs.fsid.String()) }

// errExclRunning is BTRFS_ERROR_DEV_EXCL_RUN_IN_PROGRESS, which the balance
// ioctl returns as a positive value, not as an errno.
var errExclRunning = errors.New("BTRFS_ERROR_DEV_EXCL_RUN_IN_PROGRESS")

// ioctlPositive is ioctl for the requests that may return btrfs's positive
// error codes (enum btrfs_err_code) instead of -1 and errno.
func ioctlPositive(f *os.File, req uintptr, arg unsafe.Pointer) error {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg))
	runtime.KeepAlive(f)
	switch {
	case errno != 0:
		return errno
	case r == 6:
		return errExclRunning
	case r != 0:
		return fmt.Errorf("btrfs error code %d", r)
	}
	return nil
}

// isBusy recognises the kernel's answers when another exclusive operation
// or scrub runs.
func isBusy(err error) bool {
	return errors.Is(err, syscall.EINPROGRESS) || errors.Is(err, syscall.EBUSY) || errors.Is(err, errExclRunning)
}
