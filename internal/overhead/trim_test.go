package overhead

import (
	"errors"
	"testing"
)

func TestTrim(t *testing.T) {
	// Overheads after deleting the k oldest of 8: a steep drop at 5.
	steps := []float64{0.40, 0.40, 0.39, 0.30, 0.30, 0.10, 0.10, 0.05, 0.05}
	for _, tc := range []struct {
		name   string
		n      int
		budget float64
		k      int
		ratio  float64
		met    bool
	}{
		{"within the budget: nothing", 8, 0.40, 0, 0.40, true},
		{"at the boundary: nothing", 8, 0.40, 0, 0.40, true},
		{"just under the start", 8, 0.399, 2, 0.39, true},
		{"the drop", 8, 0.15, 5, 0.10, true},
		{"exactly a step", 8, 0.30, 3, 0.30, true},
		{"all of them", 8, 0.05, 7, 0.05, true},
		{"unreachable: all, not met", 8, 0.01, 8, 0.05, false},
		{"no candidates", 0, 0.15, 0, 0.40, false},
	} {
		var calls int
		k, ratio, met, err := Trim(tc.n, tc.budget, func(k int) (float64, error) {
			calls++
			if k < 0 || k > tc.n {
				t.Fatalf("%s: measure(%d) outside 0..%d", tc.name, k, tc.n)
			}
			return steps[k], nil
		})
		if err != nil || k != tc.k || ratio != tc.ratio || met != tc.met {
			t.Errorf("%s: Trim(%d, %v) = %d, %v, %v, %v; want %d, %v, %v", tc.name, tc.n, tc.budget, k, ratio, met, err, tc.k, tc.ratio, tc.met)
		}
		if calls > 6 {
			t.Errorf("%s: %d measurements, want at most 2 + log2(8)", tc.name, calls)
		}
	}
	boom := errors.New("boom")
	if _, _, _, err := Trim(8, 0.1, func(k int) (float64, error) {
		if k == 4 {
			return 0, boom
		}
		return steps[k], nil
	}); !errors.Is(err, boom) {
		t.Errorf("Trim with a failing measurement: %v, want boom", err)
	}
}
