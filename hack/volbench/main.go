// Command volbench measures berthd's volume path against the targets in the
// project's foundation issue, through the API socket as a client would:
// create latency at 0 and 10,000 volumes, throughput from 1 and 8 keep-alive
// clients, daemon CPU per create, GET /volumes of 10,000, idle RSS, and
// launch-to-/_ping with 5,000 volumes. It starts its own berthd on a temp
// data root and removes it afterwards. Run it with `make bench`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-engine/berth/hack/internal/benchd"
)

var clockTicks = 100.0 // USER_HZ on Linux

// daemon is the benchmark berthd, restarted on the same directory to time
// launches.
type daemon struct {
	bin, dir string
	*benchd.Daemon
}

func (d *daemon) start() (time.Duration, error) {
	bd, launch, err := benchd.Start(d.bin, d.dir)
	if err != nil {
		return 0, err
	}
	d.Daemon = bd
	return launch, nil
}

func (d *daemon) stop() {
	if d.Daemon != nil {
		d.Daemon.Stop()
	}
}

func (d *daemon) create(name string) error {
	resp, err := d.Client.Post("http://berth/v1.44/volumes/create", "application/json",
		bytes.NewBufferString(`{"Name":"`+name+`"}`))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create %s: status %d", name, resp.StatusCode)
	}
	return nil
}

func (d *daemon) list() (time.Duration, int, error) {
	begin := time.Now()
	resp, err := d.Client.Get("http://berth/v1.44/volumes")
	if err != nil {
		return 0, 0, err
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(begin), int(n), nil
}

// cpu is the daemon's user+system CPU time so far.
func (d *daemon) cpu() time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.Cmd.Process.Pid))
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) / clockTicks * float64(time.Second))
}

func (d *daemon) rssMiB() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.Cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// sequential creates n volumes one after another and returns their latencies.
func (d *daemon) sequential(prefix string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		begin := time.Now()
		if err := d.create(fmt.Sprintf("%s%06d", prefix, i)); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(begin))
	}
	return lat, nil
}

// parallel creates n volumes from c clients and returns creates per second.
func (d *daemon) parallel(prefix string, n, c int) (float64, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := d.create(fmt.Sprintf("%s%06d", prefix, i)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(begin).Seconds(), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// floor runs, n times in one thread, the syscalls a durable create cannot
// avoid (two mkdirs, page writes, and the two fdatasyncs of a bbolt commit)
// and returns the wall time and CPU time per iteration: the disk's and the
// kernel's share, which no daemon can beat on this machine.
func floor(dir string, n int) (wall, cpu time.Duration, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "floor.db"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &r0)
	begin := time.Now()
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprint("floor", i))
		if err := os.Mkdir(d, 0o701); err != nil {
			return 0, 0, err
		}
		if err := os.Mkdir(filepath.Join(d, "_data"), 0o755); err != nil {
			return 0, 0, err
		}
		for j := 0; j < 4; j++ {
			f.WriteAt(buf, int64((i%64)*4+j+2)*4096)
		}
		syscall.Fdatasync(int(f.Fd()))
		f.WriteAt(buf, 0)
		syscall.Fdatasync(int(f.Fd()))
	}
	wall = time.Since(begin) / time.Duration(n)
	syscall.Getrusage(syscall.RUSAGE_THREAD, &r1)
	cpu = time.Duration(r1.Utime.Nano()-r0.Utime.Nano()+r1.Stime.Nano()-r0.Stime.Nano()) / time.Duration(n)
	return wall, cpu, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func main() {
	bin := flag.String("berthd", "./bundles/berthd", "berthd binary to measure")
	samples := flag.Int("samples", 500, "creates per latency sample")
	flag.Parse()
	if err := run(*bin, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "volbench:", err)
		os.Exit(1)
	}
}

func run(bin string, samples int) error {
	dir, err := os.MkdirTemp("", "volbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &daemon{bin: bin, dir: dir}
	defer d.stop()

	runtime.LockOSThread()
	floorWall, floorCPU, err := floor(dir, samples)
	runtime.UnlockOSThread()
	if err != nil {
		return err
	}

	launch0, err := d.start()
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	idle0 := d.rssMiB()

	cpu0 := d.cpu()
	lat0, err := d.sequential("a", samples)
	if err != nil {
		return err
	}
	cpuPer := (d.cpu() - cpu0) / time.Duration(samples)
	begin := time.Now()
	if _, err := d.sequential("s", 1000); err != nil {
		return err
	}
	seqRate := 1000 / time.Since(begin).Seconds()
	cpu1 := d.cpu()
	parN := 5000 - samples - 1000
	parRate, err := d.parallel("p", parN, 8)
	if err != nil {
		return err
	}
	cpuPerPar := (d.cpu() - cpu1) / time.Duration(parN)

	// Launch time is a restart's: measured after the create burst's dirty
	// pages are written back (a burst still flushing would be timed, not
	// the daemon), as the median of three launches.
	var launches []time.Duration
	for i := 0; i < 3; i++ {
		d.stop()
		syscall.Sync()
		l, err := d.start()
		if err != nil {
			return err
		}
		launches = append(launches, l)
	}
	launch5k := median(launches)
	time.Sleep(500 * time.Millisecond)
	idle5k := d.rssMiB()

	if _, err := d.parallel("q", 5000, 8); err != nil {
		return err
	}
	lat10k, err := d.sequential("z", samples)
	if err != nil {
		return err
	}
	var lists []time.Duration
	var size int
	for i := 0; i < 10; i++ {
		l, n, err := d.list()
		if err != nil {
			return err
		}
		lists, size = append(lists, l), n
	}
	total := 10000 + samples

	fmt.Printf("berthd volume benchmark (%s)\n\n", bin)
	fmt.Printf("%-52s %14s   %s\n", "measure", "berth", "target (Docker 20.10)")
	row := func(name, got, target string) { fmt.Printf("%-52s %14s   %s\n", name, got, target) }
	row("floor: create's syscalls alone, wall per create", ms(floorWall), "(this disk, this run)")
	row("floor: create's syscalls alone, CPU per create", ms(floorCPU), "(this kernel, this run)")
	row("create median, 0 volumes", ms(median(lat0)), "< 1 ms (~1 ms)")
	row(fmt.Sprintf("create median, %d volumes", 10000), ms(median(lat10k)), fmt.Sprintf("< 1 ms, <= 1.5x the 0-volume median (ratio %.2f)", float64(median(lat10k))/float64(median(lat0))))
	row("creates/s, 1 keep-alive client", fmt.Sprintf("%.0f/s", seqRate), "(~900/s)")
	row("creates/s, 8 parallel clients", fmt.Sprintf("%.0f/s", parRate), ">= 1650/s (3x ~550/s)")
	row("daemon CPU per create, 1 client", ms(cpuPer), "< 0.233 ms (1/3 of ~0.7 ms)")
	row("daemon CPU per create, 8 parallel clients", ms(cpuPerPar), "< 0.233 ms")
	row(fmt.Sprintf("GET /volumes, %d volumes (%d KiB), median", total, size/1024), ms(median(lists)), "< 50 ms (~35 ms for 5,000)")
	row("idle RSS, 0 volumes", fmt.Sprintf("%.1f MiB", idle0), "< 25 MiB (~70 MiB + containerd)")
	row("idle RSS, 5,000 volumes", fmt.Sprintf("%.1f MiB", idle5k), "< 25 MiB")
	row("launch to /_ping, 0 volumes", ms(launch0), "< 100 ms (~500 ms)")
	row("launch to /_ping, 5,000 volumes", ms(launch5k), "< 100 ms")
	return nil
}
