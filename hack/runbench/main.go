// Command runbench measures container starts against the container issue's
// targets: `docker run --rm --network none busybox true` through berthd,
// interleaved with a bare `runc run` of the same rootfs (the floor), and 50
// containers started in parallel with berthd's and the shims' memory while
// they run. It starts its own berthd on a temp data root. Run it with
// `make bench`.
package main

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-engine/berth/hack/internal/benchd"
)

func main() {
	bin := flag.String("berthd", "./bundles/berthd", "berthd binary (berth-shim beside it)")
	docker := flag.String("docker", "/usr/local/bin/docker", "docker CLI")
	runc := flag.String("runc", "", "runc binary for the floor (default: runc in PATH; none: skip)")
	fixture := flag.String("image", "../shared/fixtures/busybox-docker-save.tar", "busybox image archive")
	n := flag.Int("n", 20, "samples of each start")
	par := flag.Int("parallel", 50, "containers started at once")
	pause := flag.Duration("pause", 250*time.Millisecond, "idle time before each timed sample")
	flag.Parse()
	if *runc == "" {
		*runc, _ = exec.LookPath("runc")
	}
	if err := run(*bin, *docker, *runc, *fixture, *n, *par, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "runbench:", err)
		os.Exit(1)
	}
}

func run(bin, docker, runc, fixture string, n, par int, pause time.Duration) error {
	dir, err := os.MkdirTemp("/var/tmp", "runbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bd, _, err := benchd.Start(bin, dir, "--cgroup-parent", "/berth-bench")
	if err != nil {
		return err
	}
	d := &daemon{bd}
	defer d.Stop()
	if err := d.Load(fixture); err != nil {
		return err
	}
	env := append(os.Environ(), "DOCKER_HOST=unix://"+d.Sock)
	dockerRun := func() error {
		cmd := exec.Command(docker, "run", "--rm", "--network", "none", "busybox", "true")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		return nil
	}
	var floor func() error
	if runc != "" {
		bundle := filepath.Join(dir, "bundle")
		if err := d.rootfs(filepath.Join(bundle, "rootfs")); err != nil {
			return err
		}
		if err := writeRuncSpec(runc, bundle); err != nil {
			return err
		}
		i := 0
		floor = func() error {
			i++
			cmd := exec.Command(runc, "--root", filepath.Join(dir, "runc"), "run", "--bundle", bundle, fmt.Sprintf("bench%d", i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("runc run: %v: %s", err, out)
			}
			return nil
		}
	}
	// Warm up both paths, then interleave the samples so that the
	// machine's noise hits both alike. Each sample starts after a pause,
	// so that none measures what the one before left running: berthd
	// starts its next warm shim 60 ms after a start, which would land in
	// the runc run that follows.
	dockerRun()
	if floor != nil {
		floor()
	}
	var runs, floors []time.Duration
	for i := 0; i < n; i++ {
		time.Sleep(pause)
		t, err := timed(dockerRun)
		if err != nil {
			return err
		}
		runs = append(runs, t)
		if floor != nil {
			time.Sleep(pause)
			if t, err = timed(floor); err != nil {
				return err
			}
			floors = append(floors, t)
		}
	}
	fmt.Printf("docker run --rm --network none busybox true (n=%d): median %s, p90 %s, min %s\n", n, ms(pct(runs, 50)), ms(pct(runs, 90)), ms(pct(runs, 0)))
	if floor != nil {
		fmt.Printf("runc run of the same rootfs (floor, n=%d):       median %s, p90 %s\n", n, ms(pct(floors, 50)), ms(pct(floors, 90)))
		fmt.Printf("ratio to the floor (medians): %.2fx\n", float64(pct(runs, 50))/float64(pct(floors, 50)))
	} else {
		fmt.Println("floor skipped: no runc binary (-runc)")
	}
	return d.parallel(par)
}

func timed(f func() error) (time.Duration, error) {
	begin := time.Now()
	err := f()
	return time.Since(begin), err
}

// writeRuncSpec writes runc's default spec, running `true` without a
// terminal, in the same namespaces as berthd's containers.
func writeRuncSpec(runc, bundle string) error {
	cmd := exec.Command(runc, "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"true"}
	spec["root"].(map[string]any)["readonly"] = false
	b, _ = json.Marshal(spec)
	return os.WriteFile(p, b, 0o644)
}

// daemon adds container calls to the benchmark berthd.
type daemon struct{ *benchd.Daemon }

// parallel starts n `sleep` containers at once through the API and reports
// the total time, berthd's RSS and the shims' memory while they run.
func (d *daemon) parallel(n int) error {
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range n {
		wg.Go(func() {
			id, err := d.create(`{"Image":"busybox","Cmd":["sleep","600"],"HostConfig":{"NetworkMode":"none"}}`)
			if err == nil {
				err = d.post("/containers/"+id+"/start", 204)
			}
			ids[i], errs[i] = id, err
		})
	}
	wg.Wait()
	total := time.Since(begin)
	defer func() {
		for _, id := range ids {
			if id != "" {
				d.Do("DELETE", "/containers/"+id+"?force=1", nil)
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let the shims settle (they trim themselves when idle)
	fmt.Printf("%d containers started in parallel: %s total (%.1f starts/s)\n", n, ms(total), float64(n)/total.Seconds())
	fmt.Printf("berthd RSS with %d running: %.1f MiB\n", n, kib(d.Cmd.Process.Pid, "/status", "VmRSS")/1024)
	var rss, pss, priv []float64
	for _, pid := range shimPids(d.Dir) {
		rss = append(rss, kib(pid, "/smaps_rollup", "Rss"))
		pss = append(pss, kib(pid, "/smaps_rollup", "Pss"))
		priv = append(priv, kib(pid, "/smaps_rollup", "Private_Clean")+kib(pid, "/smaps_rollup", "Private_Dirty"))
	}
	fmt.Printf("shims: %d; per shim RSS %.2f MiB, PSS %.2f MiB, private %.2f MiB (medians)\n", len(rss), med(rss)/1024, med(pss)/1024, med(priv)/1024)
	return nil
}

// shimPids finds the berth-shim processes serving this daemon's state dirs:
// started for one (serve <dir>), or started ahead of need and given one
// (wait <pool>, its stdout then on the state dir's shim.log).
func shimPids(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cmd), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "berth-shim" {
			continue
		}
		state := args[2]
		if args[1] == "wait" {
			state, _ = os.Readlink(filepath.Join("/proc", e.Name(), "fd", "1"))
		}
		if strings.HasPrefix(state, filepath.Join(dir, "exec", "containers")+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// kib reads a "Key: N kB" line of a /proc/<pid> file.
func kib(pid int, file, key string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d%s", pid, file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == key {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (d *daemon) post(path string, want int) error {
	resp, err := d.Do("POST", path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

func (d *daemon) create(body string) (string, error) {
	resp, err := d.Do("POST", "/containers/create", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct{ ID, Message string }
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != 201 {
		return "", fmt.Errorf("create: %d %s", resp.StatusCode, r.Message)
	}
	return r.ID, nil
}

// rootfs exports a busybox container's filesystem into dir, for runc.
func (d *daemon) rootfs(dir string) error {
	id, err := d.create(`{"Image":"busybox","Cmd":["true"]}`)
	if err != nil {
		return err
	}
	defer d.Do("DELETE", "/containers/"+id, nil)
	resp, err := d.Do("GET", "/containers/"+id+"/export", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tr := tar.NewReader(resp.Body)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, os.FileMode(h.Mode)&0o7777)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o7777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
}
