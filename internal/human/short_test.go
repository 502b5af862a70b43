package human

import "testing"

func TestShort(t *testing.T) {
	for _, tt := range []struct {
		in   uint64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1.00KiB"}, {1536, "1.50KiB"}, {10234, "9.99KiB"}, {10235, "10.0KiB"},
		{102348, "99.9KiB"}, {102349, "100KiB"}, {1023487, "999KiB"}, {1023488, "0.98MiB"}, {1 << 20, "1.00MiB"},
		{15938355, "15.2MiB"}, {152 << 30, "152GiB"}, {1<<64 - 1, "16.0EiB"},
	} {
		if got := Short(tt.in); got != tt.want {
			t.Errorf("Short(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
