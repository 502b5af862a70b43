package btrfs

import (
	"testing"
	"unsafe"
)

// Sizes and request numbers from <linux/btrfs.h> (Debian 12 linux-libc-dev):
// sizeof(struct btrfs_balance_args) = 136 (packed), the ioctl argument
// structs are padded to 1 KiB.
func TestMaintenanceIoctlLayouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct btrfs_balance_args)", unsafe.Sizeof(balanceArgs{}), 136},
		{"sizeof(struct btrfs_balance_progress)", unsafe.Sizeof(BalanceProgress{}), 24},
		{"sizeof(struct btrfs_ioctl_balance_args)", unsafe.Sizeof(balanceIoctlArgs{}), 1024},
		{"offsetof(btrfs_ioctl_balance_args, stat)", unsafe.Offsetof(balanceIoctlArgs{}.Stat), 424},
		{"sizeof(struct btrfs_scrub_progress)", unsafe.Sizeof(ScrubProgress{}), 120},
		{"sizeof(struct btrfs_ioctl_scrub_args)", unsafe.Sizeof(scrubArgs{}), 1024},
		{"offsetof(btrfs_scrub_progress, last_physical)", unsafe.Offsetof(ScrubProgress{}.LastPhysical), 104},
		{"BTRFS_IOC_SCRUB", iocScrub, 0xc400941b},
		{"BTRFS_IOC_SCRUB_CANCEL", iocScrubCancel, 0x941c},
		{"BTRFS_IOC_BALANCE_V2", iocBalanceV2, 0xc4009420},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}
