// Package generator is server-impermanence-generator: a systemd generator
// (systemd.generator(7)) that turns /etc/server-impermanence/config.toml
// into mount units, drop-ins and symlinks (see internal/plan), plus the
// operator's --check, --render and --print-default.
//
// It runs at every boot and daemon-reload, in the initrd and in the host,
// so it is fast and does nothing but read the configuration, the kernel
// command line and /etc/initrd-release, and write files. It logs to
// /dev/kmsg (stderr when that cannot be opened). --check, run by an
// operator on a booted system, also compares the configured device with
// the filesystem / is mounted from (mount table, /dev, /sys/fs/btrfs) and
// warns when they differ. Every host path is below Env.Root so tests run it
// on a directory tree.
package generator
