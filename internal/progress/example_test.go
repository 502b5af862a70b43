package progress_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/progress"
)

// A command that moves a snapshot from a reader: Start, count through
// Reader, Finish. With progress off the meter is nil and the same code
// runs unchanged.
func ExampleMeter() {
	clock := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var term strings.Builder // stands for stderr on a terminal
	m := progress.New(&term, now, progress.Width)

	stream := strings.NewReader(strings.Repeat("x", 3<<20))
	m.Start(progress.Item{Target: "usb", Subvolume: "@persist", Snapshot: "20261206T100000Z",
		Index: 1, Count: 1, Total: 3 << 20, Verb: "fetched"})
	_, err := io.Copy(io.Discard, m.Reader(stream))
	clock = clock.Add(2 * time.Second)
	m.Finish(err)
	// Each carriage return redraws the line; shown here one draw a line.
	fmt.Print(strings.ReplaceAll(term.String(), "\r", "\n"))
	// Output:
	// usb @persist/20261206T100000Z  1/1 0B/3.00MiB 0% 0:00
	// usb @persist/20261206T100000Z  1/1 fetched 3.00MiB in 0:02, 1.50MiB/s
}
