// Package vmtest boots the project on a real systemd + btrfs Debian system
// (Debian 12 and 13) under QEMU and checks it across reboots, power cuts and
// bad configurations. The tests run only with VMTEST=1 (make vmtest), after
// build-image.sh has built the images; see docs/vmtest.md. The non-test
// files hold what the harness unit-tests without booting: the recogniser of
// guest kernel crashes on the console, the promtool test file generator for
// the alert rules, and the scheduler of the VM slots.
package vmtest
