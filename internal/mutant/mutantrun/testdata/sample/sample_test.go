package sample

import "testing"

// Kills every mutant of Sign; Max's boundary (a > b) is equivalent.
func TestSign(t *testing.T) {
	for n, want := range map[int]int{-2: -1, 0: 0, 3: 1} {
		if got := Sign(n); got != want {
			t.Errorf("Sign(%d) = %d, want %d", n, got, want)
		}
	}
	if Max(1, 2) != 2 || Max(2, 1) != 2 {
		t.Error("Max")
	}
}
