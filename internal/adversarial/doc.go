// Package adversarial is the adversarial test tier (make test-adversarial;
// docs/security.md): hostile configurations driven by the schema table of
// internal/config, hostile command lines for every binary, hostile files at
// every path the suite reads or writes, and SIGTERM and SIGKILL at random
// points of every job on a real loop-backed btrfs. Every case runs the
// real binaries, built into a temporary directory, and asserts its exact
// outcome. The package has no code of its own beyond this comment; its
// tests run when IMPERMANENCE_ADVERSARIAL=1.
package adversarial
