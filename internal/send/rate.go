package send

import (
	"io"
	"time"
)

// rateReader reads at most rate bytes per second on average since its
// first read: after each read it sleeps until the bytes read so far are
// due.
type rateReader struct {
	r     io.Reader
	rate  int64
	now   func() time.Time
	sleep func(time.Duration)
	start time.Time
	n     int64
}

// rateChunk bounds one read, so the pace is even at low rates.
const rateChunk = 64 << 10

func (r *rateReader) Read(p []byte) (int, error) {
	if r.start.IsZero() {
		r.start = r.now()
	}
	if len(p) > rateChunk {
		p = p[:rateChunk]
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	due := r.start.Add(time.Duration(float64(r.n) / float64(r.rate) * float64(time.Second)))
	if d := due.Sub(r.now()); d > 0 {
		r.sleep(d)
	}
	return n, err
}
