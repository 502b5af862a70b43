// Package sshclient is the client side of an SSH target: the ssh(1)
// command of one internal/receiveproto request to a backup host whose key
// for this server runs impermanence-receive as its forced command, the
// connection a run shares between its requests, and the errors that name
// the host. impermanence-send (its sends and listings) and
// impermanence-restore (its fetches) both connect through it, so the two
// use the same options, identity and port.
package sshclient
