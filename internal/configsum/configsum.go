// Package configsum computes the digest that tells whether the initrd's copy
// of the configuration is the one in /etc.
//
// The rollback (in the initrd) records Sum of the configuration it used in its
// /run/server-impermanence/ record; the exporter computes Sum of /etc's and
// reports impermanence_initrd_config_stale when they differ. The digest is the
// SHA-256, in lower-case hex, over each source in merge order (the main file,
// then the drop-ins): its path, a NUL byte, its content, a NUL byte. This is
// what internal/rollback records.
//
// It imports only the standard library and internal/config (boot path).
package configsum

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// Sum returns the digest of the sources, in the order given.
func Sum(srcs []config.Source) string {
	h := sha256.New()
	for _, s := range srcs {
		h.Write([]byte(s.Name))
		h.Write([]byte{0})
		h.Write(s.Data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// File returns the digest of the configuration at path and its drop-ins.
func File(path string) (string, error) {
	srcs, err := config.ReadSources(path)
	if err != nil {
		return "", err
	}
	return Sum(srcs), nil
}
