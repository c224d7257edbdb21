package jsonfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func init() {
	pollMin, pollMax = time.Millisecond, 20*time.Millisecond
}

var t0 = time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)

// writeSynthetic writes entries "e<i>\n" with time t0+i s, spread over
// rotated files of perFile entries each (path.N oldest ... path newest).
func writeSynthetic(t testing.TB, path string, n, perFile int) {
	t.Helper()
	nfiles := (n + perFile - 1) / perFile
	for f := 0; f < nfiles; f++ {
		var buf []byte
		for i := f * perFile; i < min(n, (f+1)*perFile); i++ {
			stream := "stdout"
			if i%3 == 0 {
				stream = "stderr"
			}
			buf = appendEntry(buf, fmt.Appendf(nil, "e%d\n", i), stream, t0.Add(time.Duration(i)*time.Second))
		}
		name := path
		if idx := nfiles - 1 - f; idx > 0 {
			name = fmt.Sprintf("%s.%d", path, idx)
		}
		if err := os.WriteFile(name, buf, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t *testing.T, path string, o ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, o, nil, func(e Entry) error {
		got = append(got, string(e.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func rangeLines(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("e%d\n", i))
	}
	return s
}

func TestReadTailSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeSynthetic(t, path, 100, 30) // files: .3 (0-29) .2 (30-59) .1 (60-89) current (90-99)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name string
		o    ReadOptions
		want []string
	}{
		{"all", ReadOptions{Tail: -1}, rangeLines(0, 100)},
		{"tail 0", ReadOptions{Tail: 0}, nil},
		{"tail 5", ReadOptions{Tail: 5}, rangeLines(95, 100)},
		{"tail 10", ReadOptions{Tail: 10}, rangeLines(90, 100)},
		{"tail 11", ReadOptions{Tail: 11}, rangeLines(89, 100)},
		{"tail 45", ReadOptions{Tail: 45}, rangeLines(55, 100)},
		{"tail 100", ReadOptions{Tail: 100}, rangeLines(0, 100)},
		{"tail 1000", ReadOptions{Tail: 1000}, rangeLines(0, 100)},
		{"since", ReadOptions{Tail: -1, Since: at(42)}, rangeLines(42, 100)},
		{"until", ReadOptions{Tail: -1, Until: at(42)}, rangeLines(0, 43)},
		{"since+until", ReadOptions{Tail: -1, Since: at(25), Until: at(65)}, rangeLines(25, 66)},
		{"tail+since", ReadOptions{Tail: 20, Since: at(85)}, rangeLines(85, 100)},
		{"tail+until (Docker: tail first)", ReadOptions{Tail: 20, Until: at(85)}, rangeLines(80, 86)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, path, tc.o)
			if strings.Join(got, "") != strings.Join(tc.want, "") {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}

	var streams []string
	Read(context.Background(), path, ReadOptions{Tail: 3}, nil, func(e Entry) error {
		streams = append(streams, e.Stream+"@"+e.Time.Format(time.TimeOnly))
		return nil
	})
	if got := strings.Join(streams, ","); got != "stdout@13:01:37,stdout@13:01:38,stderr@13:01:39" {
		t.Fatal(got)
	}
	stop := errors.New("stop")
	n := 0
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, nil, func(Entry) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	}); err != stop || n != 3 {
		t.Fatalf("callback error not propagated: %v %d", err, n)
	}
}

func TestReadMissingAndPartial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	if got := collect(t, path, ReadOptions{Tail: -1}); len(got) != 0 {
		t.Fatal(got)
	}
	line := appendEntry(nil, []byte("whole\n"), "stdout", t0)
	bad := []byte("garbage\n{\"log\":\"x\"\n")
	part := appendEntry(nil, []byte("partial\n"), "stdout", t0)
	data := append(append(append(append([]byte{}, line...), bad...), line...), part[:20]...)
	os.WriteFile(path, data, 0o640)
	// As in Docker, tail counts lines, including malformed ones.
	for tail, want := range map[int]int{-1: 2, 1: 1, 3: 1, 4: 2, 5: 2} {
		got := collect(t, path, ReadOptions{Tail: tail})
		if len(got) != want {
			t.Fatalf("tail %d: %q", tail, got)
		}
	}

	// Following waits for the rest of the partial line.
	stopped := make(chan struct{})
	res := make(chan []string)
	go func() {
		var got []string
		Read(context.Background(), path, ReadOptions{Tail: 0, Follow: true}, stopped, func(e Entry) error {
			got = append(got, string(e.Line))
			return nil
		})
		res <- got
	}()
	time.Sleep(30 * time.Millisecond)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(part[20:])
	f.Close()
	time.Sleep(30 * time.Millisecond)
	close(stopped)
	if got := <-res; len(got) != 1 || got[0] != "partial\n" {
		t.Fatalf("follow got %q", got)
	}
}

func TestFollowContextAndUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeSynthetic(t, path, 10, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, nil, func(Entry) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// Until in the near future ends a follow on its own.
	w, _ := NewWriter(path, WriterOptions{})
	defer w.Close()
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: 0, Follow: true, Until: time.Now().Add(50 * time.Millisecond)}, nil, func(Entry) error { return nil })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow with until did not end")
	}
}

// TestFollowRotations follows a log through appends and rotations (including
// max-file=1 replacement) and ends when stopped is closed.
func TestFollowRotations(t *testing.T) {
	for _, maxFiles := range []int{1, 2, 5} {
		t.Run(fmt.Sprint("max-file=", maxFiles), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			w, err := NewWriter(path, WriterOptions{MaxSize: 2000, MaxFiles: maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			sw := w.StreamWriter("stdout")
			fmt.Fprintf(sw, "before\n")
			stopped := make(chan struct{})
			res := make(chan []string)
			errc := make(chan error, 1)
			go func() {
				var got []string
				errc <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true}, stopped, func(e Entry) error {
					got = append(got, string(e.Line))
					return nil
				})
				res <- got
			}()
			want := []string{"before\n"}
			for i := 0; i < 300; i++ {
				fmt.Fprintf(sw, "line %d\n", i)
				want = append(want, fmt.Sprintf("line %d\n", i))
				if i%10 == 0 {
					time.Sleep(5 * time.Millisecond) // ~1 rotation per batch, the follower keeps up
				}
			}
			fmt.Fprintf(sw, "last")
			want = append(want, "last")
			w.Close()
			close(stopped)
			got := <-res
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "") != strings.Join(want, "") {
				t.Fatalf("got %d lines, want %d:\n%q", len(got), len(want), got)
			}
		})
	}
}

// TestConcurrentWriterFollower runs two stream writers concurrently with
// several followers; every follower must see every line exactly once, in
// order per stream.
func TestConcurrentWriterFollower(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	// About 20 rotations, with room for every file: a follower that lags
	// (a loaded machine, the one started late) must still find them all;
	// losing what rotation deleted is Docker's behaviour, tested elsewhere.
	w, err := NewWriter(path, WriterOptions{MaxSize: 32 * 1024, MaxFiles: 64})
	if err != nil {
		t.Fatal(err)
	}
	const perStream = 5000
	stopped := make(chan struct{})
	type result struct {
		got map[string][]int
		err error
	}
	results := make(chan result)
	startFollower := func(tail int) {
		go func() {
			got := map[string][]int{}
			err := Read(context.Background(), path, ReadOptions{Tail: tail, Follow: true}, stopped, func(e Entry) error {
				var n int
				if _, err := fmt.Sscanf(string(e.Line), e.Stream+" %d\n", &n); err != nil {
					return fmt.Errorf("bad line %q: %v", e.Line, err)
				}
				got[e.Stream] = append(got[e.Stream], n)
				return nil
			})
			results <- result{got, err}
		}()
	}
	for i := 0; i < 3; i++ {
		startFollower(-1)
	}
	var wg sync.WaitGroup
	for _, stream := range []string{"stdout", "stderr"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sw := w.StreamWriter(stream)
			var pending []byte
			for i := 0; i < perStream; i++ {
				pending = fmt.Appendf(pending, "%s %d\n", stream, i)
				if i%7 == 0 || i == perStream-1 {
					// Split writes at odd places to exercise partial lines.
					cut := len(pending) / 2
					sw.Write(pending[:cut])
					sw.Write(pending[cut:])
					pending = pending[:0]
				}
				if i%200 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
			sw.Close()
		}()
	}
	time.Sleep(10 * time.Millisecond)
	startFollower(-1) // started mid-way
	wg.Wait()
	w.Close()
	close(stopped)
	for i := 0; i < 4; i++ {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, stream := range []string{"stdout", "stderr"} {
			ns := r.got[stream]
			if len(ns) != perStream {
				t.Fatalf("follower %d: %s: got %d lines, want %d", i, stream, len(ns), perStream)
			}
			for j, n := range ns {
				if n != j {
					t.Fatalf("follower %d: %s: line %d is %d", i, stream, j, n)
				}
			}
		}
	}
}
