package vmtest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSchedulerLongestFirst: with one slot, the waiters that arrive during
// the gathering window start by weight, larger first, equal weights in
// their order of arrival; a later arrival waits for a free slot.
func TestSchedulerLongestFirst(t *testing.T) {
	s := newScheduler(1, 200*time.Millisecond)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(name string, weight int) {
		defer wg.Done()
		release := s.acquire(weight)
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		release()
	}
	for _, w := range []struct {
		name   string
		weight int
	}{{"a1", 1}, {"b4", 4}, {"c2", 2}, {"d4", 4}, {"e9", 9}} {
		wg.Add(1)
		go start(w.name, w.weight)
		time.Sleep(10 * time.Millisecond) // arrival order
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"e9", "b4", "d4", "c2", "a1"}, order); diff != "" {
		t.Errorf("start order (-want +got):\n%s", diff)
	}
}
