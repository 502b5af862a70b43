package sample

// Sign is -1, 0 or 1.
func Sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Max is the larger of a and b.
func Max(a, b int) int {
	if a >= b {
		return a
	}
	return b
}
