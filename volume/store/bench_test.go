package store

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkCreate measures one durable create with 0 and 10,000 volumes
// already there: the cost must not grow with the count.
func BenchmarkCreate(b *testing.B) {
	for _, existing := range []int{0, 10000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			s := newHarness(b).open(b, 0)
			for i := 0; i < existing; i++ {
				mustCreate(b, s, fmt.Sprintf("pre%06d", i))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustCreate(b, s, fmt.Sprintf("b%08d", i))
			}
		})
	}
}

// BenchmarkCreateParallel shows group commit: parallel creates share fsyncs.
func BenchmarkCreateParallel(b *testing.B) {
	s := newHarness(b).open(b, 0)
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mustCreate(b, s, fmt.Sprintf("p%08d", n.Add(1)))
		}
	})
}

// BenchmarkQuotaCheck is the check alone: a mutex and a comparison.
func BenchmarkQuotaCheck(b *testing.B) {
	q := quota{max: 1}
	for i := 0; i < b.N; i++ {
		if q.reserve() == nil {
			q.release()
		}
	}
}
