// Package vmtest boots the project on a real systemd + btrfs Debian system
// under QEMU and checks it across reboots, power cuts and bad configurations
// (DESIGN.md §9, tier 4). The tests run only with VMTEST=1 (make vmtest),
// after build-image.sh has built the image; see docs/vmtest.md.
package vmtest
