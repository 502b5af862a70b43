package streamstore

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"filippo.io/age"
)

// BenchmarkWrite is a stream written to a store in a directory of the
// test's (the machine's disk), fsync included: plain and age-encrypted.
// go test -run '^$' -bench Write -benchtime 5x ./internal/streamstore
func BenchmarkWrite(b *testing.B) {
	data := make([]byte, 256<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	id, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name string
		rs   []age.Recipient
	}{{"plain", nil}, {"age", []age.Recipient{id.Recipient()}}} {
		b.Run(tc.name, func(b *testing.B) {
			s := Store{Root: b.TempDir()}
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if _, err := s.Write("@persist", Meta{Name: snap(i), UUID: "u", Kind: Full}, bytes.NewReader(data), tc.rs, now); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
