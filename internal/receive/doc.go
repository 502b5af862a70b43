// Package receive is impermanence-receive, the far end of an SSH target:
// run by sshd as the forced command of one server's key,
//
//	restrict,command="impermanence-receive --root /srv/backup/web1" ssh-ed25519 AAAA… root@web1
//
// it answers the one request of the connection (SSH_ORIGINAL_COMMAND,
// parsed by internal/receiveproto) beneath its --root only: it lists what
// the root holds of a subvolume, receives one snapshot's send stream
// into .incoming and moves it into place once it is whole and verified
// (internal/targetdir), or, for a restore, sends one snapshot it received
// whole (read-only, with a received UUID, directly in <root>/<subvolume>/)
// back to the client (send.go). No path from the client is trusted: a request is
// names, checked word by word; a symbolic link below the root is refused;
// the stream is applied chrooted into its transfer directory.
//
// Append-only: a client can add, list and read back, never delete or overwrite
// (a name the root holds is refused, whatever the stream). The target's
// retention runs on the backup host, under its own configuration:
// impermanence-receive --prune (prune.go). Every receive, every send and
// every refusal is an event in <root>/.audit.jsonl.
package receive
