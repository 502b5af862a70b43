package btrfs

import (
	"testing"
	"unsafe"
)

// The sizes and request numbers below were printed by a C program including
// <linux/btrfs.h> and <linux/btrfs_tree.h> (Debian 12 linux-libc-dev).
func TestIoctlLayouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct btrfs_ioctl_vol_args_v2)", unsafe.Sizeof(volArgsV2{}), 4096},
		{"sizeof(struct btrfs_ioctl_get_subvol_info_args)", unsafe.Sizeof(getSubvolInfoArgs{}), 504},
		{"sizeof(struct btrfs_ioctl_search_key)", unsafe.Sizeof(searchKey{}), 104},
		{"sizeof(struct btrfs_ioctl_search_header)", unsafe.Sizeof(searchHeader{}), 32},
		{"sizeof(struct btrfs_ioctl_search_args_v2)", unsafe.Sizeof(searchArgsV2{}), 112},
		{"sizeof(struct btrfs_ioctl_ino_lookup_args)", unsafe.Sizeof(inoLookupArgs{}), 4096},
		{"offsetof(btrfs_ioctl_get_subvol_info_args, otime)", unsafe.Offsetof(getSubvolInfoArgs{}.OTime), 392},
		{"BTRFS_IOC_SYNC", iocSync, 0x9408},
		{"BTRFS_IOC_FS_INFO", iocFSInfo, 0x8400941f},
		{"BTRFS_IOC_TREE_SEARCH_V2", iocTreeSearchV2, 0xc0709411},
		{"BTRFS_IOC_INO_LOOKUP", iocInoLookup, 0xd0009412},
		{"BTRFS_IOC_SNAP_CREATE_V2", iocSnapCreateV2, 0x50009417},
		{"BTRFS_IOC_SUBVOL_CREATE_V2", iocSubvolCreateV2, 0x50009418},
		{"BTRFS_IOC_SUBVOL_GETFLAGS", iocSubvolGetFlags, 0x80089419},
		{"BTRFS_IOC_SUBVOL_SETFLAGS", iocSubvolSetFlags, 0x4008941a},
		{"BTRFS_IOC_GET_SUBVOL_INFO", iocGetSubvolInfo, 0x81f8943c},
		{"BTRFS_IOC_SNAP_DESTROY_V2", iocSnapDestroyV2, 0x5000943f},
		{"sizeof(struct btrfs_ioctl_send_args)", unsafe.Sizeof(sendArgs{}), 72},
		{"BTRFS_IOC_SEND", iocSend, 0x40489426},
		{"offsetof(struct btrfs_root_item, received_uuid)", rootItemReceivedUUID, 279},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}
