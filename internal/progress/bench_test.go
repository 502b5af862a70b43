package progress

import (
	"io"
	"testing"
	"time"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// The cost of counting a stream through the meter, in 64 KiB reads (a
// pipe's): compare with BenchmarkReaderOff.
func BenchmarkReaderOn(b *testing.B) {
	m := New(io.Discard, time.Now, 0)
	m.Start(Item{Target: "usb", Subvolume: "@persist", Snapshot: "20261206T100000Z"})
	benchRead(b, m.Reader(zeros{}))
}

func BenchmarkReaderOff(b *testing.B) {
	var m *Meter
	benchRead(b, m.Reader(zeros{}))
}

func benchRead(b *testing.B, r io.Reader) {
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		r.Read(buf)
	}
}
