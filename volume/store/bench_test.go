package store

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCreate measures one durable create with 0 and 10,000 volumes
// already there: the cost must not grow with the count. cpu-µs/op is the
// process's user+system CPU per create, the number the daemon's CPU target
// is about (ns/op is mostly the disk's fsync latency).
func BenchmarkCreate(b *testing.B) {
	for _, existing := range []int{0, 10000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			s := newHarness(b).open(b, 0)
			for i := 0; i < existing; i++ {
				mustCreate(b, s, fmt.Sprintf("pre%06d", i))
			}
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustCreate(b, s, fmt.Sprintf("b%08d", i))
			}
			b.StopTimer()
			cpu.report(b)
		})
	}
}

// BenchmarkCreateParallel shows group commit: parallel creates share fsyncs.
func BenchmarkCreateParallel(b *testing.B) {
	s := newHarness(b).open(b, 0)
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	cpu := startCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mustCreate(b, s, fmt.Sprintf("p%08d", n.Add(1)))
		}
	})
	b.StopTimer()
	cpu.report(b)
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

// cpuMark is the process's CPU time at the start of a measurement.
type cpuMark time.Duration

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMark { return cpuMark(processCPU()) }

// report adds the CPU time per operation since the mark to b's results.
func (m cpuMark) report(b *testing.B) {
	used := processCPU() - time.Duration(m)
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}
