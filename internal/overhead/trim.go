package overhead

// Trim returns how many of n candidate snapshots, oldest first, to delete
// so that the overhead meets budget (a ratio: 0.15 for 15 %): the smallest
// k whose measure(k), the overhead once the k oldest are gone, is at most
// budget, with that overhead. Deleting more never raises the overhead (the
// extents only snapshots hold can only lose holders), so it bisects:
// about log2(n) measurements. When even all n do not meet the budget, met
// is false and k is n.
func Trim(n int, budget float64, measure func(k int) (float64, error)) (k int, ratio float64, met bool, err error) {
	r0, err := measure(0)
	if err != nil || r0 <= budget {
		return 0, r0, err == nil, err
	}
	rn, err := measure(n)
	if err != nil {
		return 0, r0, false, err
	}
	if rn > budget {
		return n, rn, false, nil
	}
	lo, hi, rhi := 0, n, rn // measure(lo) > budget >= measure(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		r, err := measure(mid)
		if err != nil {
			return 0, r0, false, err
		}
		if r <= budget {
			hi, rhi = mid, r
		} else {
			lo = mid
		}
	}
	return hi, rhi, true, nil
}
