package human

import "fmt"

// Short formats n with binary prefixes in three significant digits, for
// lines that must stay narrow (a progress line): 512B, 1.50KiB, 15.2MiB,
// 152GiB.
func Short(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= 999.5 && exp < 5 {
		v /= unit
		exp++
	}
	p := "KMGTPE"[exp]
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f%ciB", v, p)
	case v < 99.95:
		return fmt.Sprintf("%.1f%ciB", v, p)
	}
	return fmt.Sprintf("%.0f%ciB", v, p)
}
