package btrfs

import (
	"encoding/hex"
	"fmt"
)

// UUID is a subvolume or filesystem UUID.
type UUID [16]byte

// IsZero reports whether u is unset, e.g. the ParentUUID of a subvolume that
// is not a snapshot.
func (u UUID) IsZero() bool { return u == UUID{} }

// String formats u as 8-4-4-4-12 hex digits, like btrfs-progs.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:], u[10:])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

// ParseUUID parses the 8-4-4-4-12 hex form String writes.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("%q is not a UUID: %w", s, err)
	}
	return u, nil
}
