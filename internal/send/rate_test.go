package send

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// The rate limit paces reads on a fake clock: the time slept brings the
// average down to the rate, and reads are at most 64 KiB.
func TestRateReader(t *testing.T) {
	for _, tc := range []struct {
		rate  int64
		size  int
		slept time.Duration
	}{
		{rate: 1 << 20, size: 4 << 20, slept: 4 * time.Second},
		{rate: 50 << 20, size: 10 << 20, slept: 200 * time.Millisecond},
		{rate: 1000, size: 500, slept: 500 * time.Millisecond},
	} {
		now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		var slept time.Duration
		maxRead := 0
		r := &rateReader{r: bytes.NewReader(make([]byte, tc.size)), rate: tc.rate,
			now: func() time.Time { return now }, sleep: func(d time.Duration) { slept += d; now = now.Add(d) }}
		buf := make([]byte, 1<<20)
		n := 0
		for {
			k, err := r.Read(buf)
			n += k
			maxRead = max(maxRead, k)
			if err == io.EOF {
				break
			}
		}
		if n != tc.size || slept != tc.slept || maxRead > rateChunk {
			t.Errorf("rate %d, %d bytes: read %d, slept %v (want %v), largest read %d", tc.rate, tc.size, n, slept, tc.slept, maxRead)
		}
	}
}
