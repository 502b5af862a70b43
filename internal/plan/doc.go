// Package plan turns a validated configuration into the files the generator
// writes: whole mount units where the content is truly dynamic, small
// drop-ins and wants/requires symlinks that hook the static units of units/.
//
// Build is pure: it reads nothing and its output depends only on its
// arguments, sorted by directory and path, so the generator's output is
// deterministic and golden-testable. The generator writes the result with
// exclusive creation (see internal/generator).
//
// Where files go (systemd.generator(7)):
//
//   - mount units and their requires-symlinks go to the late directory, so a
//     unit an administrator writes in /etc/systemd/system, or an /etc/fstab
//     entry for the same mountpoint (systemd-fstab-generator writes to the
//     normal directory), takes precedence without a race between generators;
//   - drop-ins and wants-symlinks for the static units go to the normal
//     directory.
//
// Symlinks to generated units are relative ("../nix.mount"); symlinks to
// static units point at their installed path under /usr/lib/systemd/system,
// as systemd's own generators do (systemd resolves a .wants/ entry by its
// name; a relative link from a generator directory into /usr would depend on
// where that directory is).
package plan
