// Package send is impermanence-send: for each [[target]] it sends the
// snapshots the target lacks, incrementally where both sides hold a
// common snapshot (internal/replicate plans it), runs the target's
// retention, and records what the target holds (internal/targetstate).
//
// The stream comes from the send ioctl (compressed extents as they are on
// disk where the kernel writes stream version 2). A local target is a
// directory on another mounted btrfs (local.go): internal/targetdir
// receives the stream into <root>/.incoming/ and moves it into place once
// verified. An SSH target (ssh.go) is a backup host running
// impermanence-receive as the forced command of this server's key, which
// does the same there; each request (internal/receiveproto) is one ssh
// session, the sessions of a run share one connection, and the host is
// append-only (its own retention runs there). A killed transfer, on either
// side, leaves only .incoming debris, which the next transfer deletes
// first.
//
// On a terminal each transfer is a progress line on stderr
// (internal/progress: the meter counts the send stream as it is read);
// without one, each snapshot is its one log line with size and rate.
//
// The run takes no filesystem job lock (a transfer may take hours; the
// snapshots and the cleanup keep their schedule): the kernel refuses to
// delete a snapshot while it is being sent, and impermanence-prune keeps
// the parent each target's record names. A per-target lock keeps two runs
// of one target apart.
package send
