package human

import "testing"

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		in   uint64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1.00KiB"}, {1536, "1.50KiB"},
		{2 << 30, "2.00GiB"}, {1<<64 - 1, "16.00EiB"},
	} {
		if got := Bytes(tt.in); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
