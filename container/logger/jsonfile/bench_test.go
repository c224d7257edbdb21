package jsonfile

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkWriter measures the shim's hot path: container output through a
// StreamWriter into the log file (with rotation enabled).
func BenchmarkWriter(b *testing.B) {
	line := []byte("2026-11-22 13:15:15 INFO  request served method=GET path=/api/v1/items status=200 dur=1.2ms\n")
	run := func(b *testing.B, perWrite int) {
		path := filepath.Join(b.TempDir(), "c-json.log")
		w, err := NewWriter(path, WriterOptions{MaxSize: 64 << 20, MaxFiles: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		sw := w.StreamWriter("stdout")
		chunk := bytes.Repeat(line, perWrite)
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sw.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*perWrite)/b.Elapsed().Seconds(), "lines/s")
	}
	b.Run("line-per-write", func(b *testing.B) { run(b, 1) })
	b.Run("64-lines-per-write", func(b *testing.B) { run(b, 64) })
}

// BenchmarkReadTail reads the last 100 entries of a ~64 MiB log (plus a
// rotated file), which must not read the whole file.
func BenchmarkReadTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, err := NewWriter(path, WriterOptions{MaxSize: 64 << 20, MaxFiles: 2})
	if err != nil {
		b.Fatal(err)
	}
	sw := w.StreamWriter("stdout")
	var chunk []byte
	for i := 0; i < 1000; i++ {
		chunk = fmt.Appendf(chunk, "some application output line number %d with a bit of payload\n", i)
	}
	for written := 0; written < 96<<20; written += len(chunk) * 2 {
		sw.Write(chunk)
	}
	w.Close()
	for _, tail := range []int{100, 10000} {
		b.Run(fmt.Sprint("tail=", tail), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				n := 0
				err := Read(context.Background(), path, ReadOptions{Tail: tail}, nil, func(Entry) error { n++; return nil })
				if err != nil || n != tail {
					b.Fatalf("%v %d", err, n)
				}
			}
		})
	}
}
