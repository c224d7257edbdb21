package store

import "sync"

// quota counts volume slots: volumes that exist plus creates in flight. A
// create reserves a slot before the driver runs and gives it back if the
// create fails, so the check is one mutex-held comparison, never a listing,
// and concurrent creates cannot overshoot the limit.
type quota struct {
	mu   sync.Mutex
	used int
	max  int // 0 means unlimited
}

// reserve takes a slot or returns a *QuotaError.
func (q *quota) reserve() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.max > 0 && q.used >= q.max {
		return &QuotaError{InUse: q.used, Max: q.max}
	}
	q.used++
	return nil
}

// release gives a slot back, after a failed create or a remove.
func (q *quota) release() {
	q.mu.Lock()
	q.used--
	q.mu.Unlock()
}

func (q *quota) setMax(n int) (old int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	old, q.max = q.max, n
	return old
}

func (q *quota) get() (used, max int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used, q.max
}
