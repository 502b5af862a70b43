package vmtest

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// machines is how many VMs run at once (VMTEST_JOBS, default 2: two TCG
// VMs on two cores boot about as fast each as one alone). go test's own
// -parallel only caps the tests; which waiting test starts next is left to
// chance, so the tier's wall time varied with the order. The scheduler
// hands a free slot to the waiting scenario with the most boots (longest
// first), after a short gathering window at the start so that every
// scenario is waiting when the first slots go.
var machines = newScheduler(func() int {
	if n, err := strconv.Atoi(os.Getenv("VMTEST_JOBS")); err == nil && n > 0 {
		return n
	}
	return 2
}(), 3*time.Second)

type scheduler struct {
	mu      sync.Mutex
	free    int
	opens   time.Time // no slot is handed out before
	waiting []*waiter
	timer   *time.Timer
}

type waiter struct {
	weight int
	ready  chan struct{}
}

func newScheduler(n int, gather time.Duration) *scheduler {
	return &scheduler{free: n, opens: time.Now().Add(gather)}
}

// acquire waits for a slot; weight orders the waiters (larger first, then
// first come). It returns the release function.
func (s *scheduler) acquire(weight int) func() {
	w := &waiter{weight: weight, ready: make(chan struct{})}
	s.mu.Lock()
	i := len(s.waiting)
	for i > 0 && s.waiting[i-1].weight < weight {
		i--
	}
	s.waiting = append(s.waiting, nil)
	copy(s.waiting[i+1:], s.waiting[i:])
	s.waiting[i] = w
	s.dispatch()
	s.mu.Unlock()
	<-w.ready
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.free++
			s.dispatch()
			s.mu.Unlock()
		})
	}
}

// dispatch hands free slots to the first waiters (s.mu held).
func (s *scheduler) dispatch() {
	if wait := time.Until(s.opens); wait > 0 {
		if s.timer == nil {
			s.timer = time.AfterFunc(wait, func() {
				s.mu.Lock()
				s.opens = time.Time{}
				s.dispatch()
				s.mu.Unlock()
			})
		}
		return
	}
	for s.free > 0 && len(s.waiting) > 0 {
		w := s.waiting[0]
		s.waiting = s.waiting[1:]
		s.free--
		close(w.ready)
	}
}
