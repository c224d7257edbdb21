// Command netbench measures container networking against the networking
// issue's targets, with berthd's networking on (default bridge berth0, its
// nftables table, ip_forward, the userland proxy):
//
//   - `docker run --rm busybox true` on the default bridge against
//     `--network none` (interleaved samples, medians);
//   - HTTP GETs per second from berthd's side to many busybox containers,
//     through their published ports (-p 80, on every address) against
//     their addresses directly: on 127.0.0.1, served by the userland proxy
//     (Docker's default path for the host's loopback), and on the host's
//     address on the bridge, DNATed by the kernel; with a Go client
//     with keep-alive off and on, and berthd's CPU time per request (the
//     proxy's cost). The containers serve with busybox httpd, which closes
//     every connection, and, when netbench is statically linked
//     (CGO_ENABLED=0), with netbench itself, bind-mounted, as a Go HTTP
//     server that keeps connections alive.
//
// It never touches the host's network: it re-executes itself in a new
// network namespace (CLONE_NEWNET), where it starts its berthd on a temp
// data root, the docker CLI and its HTTP client. The namespace, with the
// bridge, veths and nftables table berthd made in it, disappears with the
// last of its processes; the containers are removed and berthd stopped on
// every way out but SIGKILL. Run it with `make bench`.
package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/berth-engine/berth/hack/internal/benchd"
)

// Environment variables of the program's other roles: the re-executed
// child, already in its own namespace, and the containers' Go HTTP server
// (its listen address).
const (
	inNetnsEnv = "NETBENCH_IN_NETNS"
	serveEnv   = "NETBENCH_SERVE"
)

// page is what every container's httpd serves.
const page = "hello from netbench\n"

type options struct {
	bin, docker, fixture string
	samples              int           // docker run samples of each kind
	containers           int           // httpd containers
	clients              int           // concurrent HTTP clients
	rounds               int           // rounds of each HTTP measurement
	duration             time.Duration // of one HTTP measurement
}

func main() {
	var o options
	flag.StringVar(&o.bin, "berthd", "./bundles/berthd", "berthd binary (berth-shim beside it)")
	flag.StringVar(&o.docker, "docker", "/usr/local/bin/docker", "docker CLI")
	flag.StringVar(&o.fixture, "image", "../shared/fixtures/busybox-docker-save.tar", "busybox image archive")
	flag.IntVar(&o.samples, "n", 20, "samples of each docker run")
	flag.IntVar(&o.containers, "containers", 100, "httpd containers publishing a port")
	flag.IntVar(&o.clients, "clients", 8, "concurrent HTTP clients")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of each HTTP measurement (the median is shown)")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of one HTTP measurement")
	flag.Parse()
	if addr := os.Getenv(serveEnv); addr != "" {
		// In a container: this program is its Go HTTP server.
		if err := serve(addr); err != nil {
			fmt.Fprintln(os.Stderr, "netbench: serve:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv(inNetnsEnv) == "" {
		os.Exit(reexec())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

// reexec runs this program again in a new network namespace, passing
// SIGINT and SIGTERM on, and returns its exit code.
func reexec() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a ^C reaches this process only, which passes
	// it on to the child, so that berthd and the docker CLIs are not
	// interrupted before the child has removed its containers with them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: starting in a new network namespace:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return max(ee.ExitCode(), 1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, o options) error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bringing up lo in the bench's namespace: %w", err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "netbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Later flags win over benchd's networking-off defaults: this
	// namespace is the bench's own.
	bd, _, err := benchd.Start(o.bin, dir, "--cgroup-parent", "/berth-netbench",
		"--bridge", "berth0", "--iptables=true", "--ip-forward=true", "--userland-proxy=true")
	if err != nil {
		return err
	}
	d := &daemon{Daemon: bd}
	defer d.Stop()
	defer d.removeAll()
	if err := d.Load(o.fixture); err != nil {
		return err
	}
	if err := d.runs(ctx, o); err != nil {
		return err
	}
	return d.http(ctx, o)
}

// daemon adds container calls to the benchmark berthd.
type daemon struct{ *benchd.Daemon }

// runs times `docker run --rm busybox true` on the default bridge and with
// --network none, interleaved so that the machine's noise hits both alike.
func (d *daemon) runs(ctx context.Context, o options) error {
	env := append(os.Environ(), "DOCKER_HOST=unix://"+d.Sock)
	dockerRun := func(extra ...string) func() error {
		args := append(append([]string{"run", "--rm"}, extra...), "busybox", "true")
		return func() error {
			cmd := exec.CommandContext(ctx, o.docker, args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
			}
			return nil
		}
	}
	bridge, none := dockerRun(), dockerRun("--network", "none")
	for _, warm := range []func() error{bridge, none} {
		if err := warm(); err != nil {
			return err
		}
	}
	var onBridge, onNone []time.Duration
	for range o.samples {
		t, err := timed(bridge)
		if err != nil {
			return err
		}
		onBridge = append(onBridge, t)
		if t, err = timed(none); err != nil {
			return err
		}
		onNone = append(onNone, t)
	}
	fmt.Printf("docker run --rm busybox true (n=%d each, interleaved)\n", o.samples)
	fmt.Printf("  %-22s median %8s  p90 %8s  min %8s\n", "default bridge", ms(pct(onBridge, 50)), ms(pct(onBridge, 90)), ms(pct(onBridge, 0)))
	fmt.Printf("  %-22s median %8s  p90 %8s  min %8s\n", "--network none", ms(pct(onNone, 50)), ms(pct(onNone, 90)), ms(pct(onNone, 0)))
	fmt.Printf("  bridge / none (medians): %.2fx (target <= 1.30x)\n\n", float64(pct(onBridge, 50))/float64(pct(onNone, 50)))
	return nil
}

// server is one way the containers serve the page.
type server struct {
	name string
	port string // container port, e.g. "80/tcp"
}

var (
	busyboxHTTPD = server{"busybox httpd", "80/tcp"} // closes every connection
	goHTTP       = server{"Go net/http", "8080/tcp"} // keeps connections alive
)

// A path from berthd's namespace to a container's server.
type path int

const (
	direct  path = iota // the container's address
	proxied             // 127.0.0.1:hostPort, the userland proxy
	dnat                // the bridge gateway's hostPort, the kernel's DNAT
)

var pathNames = []string{"container IP (direct)", "127.0.0.1:port (proxy)", "gateway:port (DNAT)"}

// target is one container: the URL of each server by path.
type target struct {
	url map[server][3]string
}

// http starts the httpd containers and measures requests per second
// through their published ports and to their addresses.
func (d *daemon) http(ctx context.Context, o options) error {
	servers := []server{busyboxHTTPD}
	self, err := staticSelf()
	if err == nil {
		servers = append(servers, goHTTP)
	} else {
		fmt.Printf("(no %s rows: %v)\n", goHTTP.name, err)
	}
	begin := time.Now()
	targets, err := d.startServers(ctx, o.containers, self)
	if err != nil {
		return err
	}
	fmt.Printf("%d busybox containers, each -p 80 (and -p 8080), started in %s\n", o.containers, time.Since(begin).Round(time.Millisecond))
	if err := waitServing(ctx, targets, servers); err != nil {
		return err
	}
	fmt.Printf("HTTP GET of a %d-byte page, %d clients round-robin over the containers, %d rounds of %s per row alternating the paths (medians);\n",
		len(page), o.clients, o.rounds, o.duration)
	fmt.Printf("berthd CPU per request is the userland proxy's cost (berthd's CPU time during the rounds / requests):\n")
	fmt.Printf("  %-14s %-10s %-26s %9s %10s %10s %7s %13s\n", "server", "keep-alive", "path", "req/s", "p50", "p99", "reused", "berthd CPU/req")
	for _, srv := range servers {
		for _, keepAlive := range []bool{false, true} {
			var res [3][]result
			for range o.rounds {
				for p := range res {
					r, err := d.load(ctx, targets, srv, path(p), keepAlive, o.clients, o.duration)
					if err != nil {
						return err
					}
					res[p] = append(res[p], r)
				}
			}
			ka := map[bool]string{false: "off", true: "on"}[keepAlive]
			var med [3]result
			for p := range res {
				med[p] = median(res[p])
				r := med[p]
				fmt.Printf("  %-14s %-10s %-26s %9.0f %10s %10s %6.0f%% %13s\n", srv.name, ka, pathNames[p], r.rate, ms(r.p50), ms(r.p99), 100*r.reused, us(cpuPerRequest(res[p])))
			}
			fmt.Printf("  %-14s %-10s direct / published: proxy %.2fx, DNAT %.2fx (target <= 1.50x)\n", srv.name, ka, med[direct].rate/med[proxied].rate, med[direct].rate/med[dnat].rate)
		}
	}
	return nil
}

// staticSelf is this program's path if it is statically linked, so that
// the containers (busybox: no libc) can run it as their Go HTTP server.
func staticSelf() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := elf.Open(self)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("netbench is dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return self, nil
}

// serve is the containers' Go HTTP server (NETBENCH_SERVE=addr): the page,
// with HTTP/1.1 keep-alive.
func serve(addr string) error {
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, page)
	}))
}

// startServers creates and starts n containers serving page with busybox
// httpd on port 80 and, if self is set, with this program on 8080, each
// published on an ephemeral port of every address, a few at a time, and returns
// how to reach them.
func (d *daemon) startServers(ctx context.Context, n int, self string) ([]target, error) {
	echo := "echo '" + strings.TrimSuffix(page, "\n") + "' > /tmp/index.html && "
	cmd := echo + "exec httpd -f -p 80 -h /tmp"
	ports := map[string]any{busyboxHTTPD.port: []map[string]string{{}}}
	hc := map[string]any{"PortBindings": ports}
	var env []string
	if self != "" {
		cmd = echo + "httpd -p 80 -h /tmp && exec /netbench"
		ports[goHTTP.port] = []map[string]string{{}}
		hc["Binds"] = []string{self + ":/netbench:ro"}
		env = []string{serveEnv + "=:8080"}
	}
	exposed := map[string]any{}
	for p := range ports {
		exposed[p] = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{
		"Image":        "busybox",
		"Cmd":          []string{"sh", "-c", cmd},
		"Env":          env,
		"ExposedPorts": exposed,
		"HostConfig":   hc,
	})
	targets := make([]target, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() == nil {
				targets[i], errs[i] = d.startOne(body)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return targets, errors.Join(errs...)
}

func (d *daemon) startOne(body []byte) (target, error) {
	var created struct{ ID, Message string }
	if err := d.call("POST", "/containers/create", body, 201, &created); err != nil {
		return target{}, err
	}
	if err := d.call("POST", "/containers/"+created.ID+"/start", nil, 204, nil); err != nil {
		return target{}, err
	}
	var insp struct {
		NetworkSettings struct {
			Networks map[string]struct{ IPAddress, Gateway string }
			Ports    map[string][]struct{ HostIp, HostPort string }
		}
	}
	if err := d.call("GET", "/containers/"+created.ID+"/json", nil, 200, &insp); err != nil {
		return target{}, err
	}
	ip := insp.NetworkSettings.Networks["bridge"].IPAddress
	if ip == "" {
		return target{}, fmt.Errorf("container %.12s: no address in inspect: %+v", created.ID, insp.NetworkSettings)
	}
	gw := insp.NetworkSettings.Networks["bridge"].Gateway
	t := target{url: map[server][3]string{}}
	for _, srv := range []server{busyboxHTTPD, goHTTP} {
		bound := insp.NetworkSettings.Ports[srv.port]
		if len(bound) == 0 {
			continue
		}
		port, _, _ := strings.Cut(srv.port, "/")
		t.url[srv] = [3]string{
			direct:  "http://" + net.JoinHostPort(ip, port) + "/index.html",
			proxied: "http://" + net.JoinHostPort("127.0.0.1", bound[0].HostPort) + "/index.html",
			dnat:    "http://" + net.JoinHostPort(gw, bound[0].HostPort) + "/index.html",
		}
	}
	return t, nil
}

// call sends an API request expecting status want and decodes the JSON
// answer into out (unless nil).
func (d *daemon) call(method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	resp, err := d.Do(method, path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// removeAll force-removes every container of the bench's berthd, the
// docker CLI's too (a `docker run --rm` interrupted half-way leaves one).
func (d *daemon) removeAll() {
	var list []struct{ ID string }
	if err := d.call("GET", "/containers/json?all=1", nil, 200, &list); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: cleanup:", err)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := d.call("DELETE", "/containers/"+c.ID+"?force=1", nil, 204, nil); err != nil {
				fmt.Fprintln(os.Stderr, "netbench: cleanup:", err)
			}
		})
	}
	wg.Wait()
}

// waitServing waits until every target answers both ways for every
// server (they start after the container does).
func waitServing(ctx context.Context, targets []target, servers []server) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	for _, t := range targets {
		for _, srv := range servers {
			for _, u := range t.url[srv] {
				for {
					err := get(ctx, c, u)
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("not serving after 30s: %w", err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}
	return nil
}

// get fetches u and checks the answer is the page.
func get(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK || string(b) != page {
		return fmt.Errorf("GET %s: %d %q", u, resp.StatusCode, b)
	}
	return nil
}

// result is one measurement.
type result struct {
	rate     float64 // requests per second
	requests int
	p50, p99 time.Duration
	reused   float64       // fraction of requests on a reused connection
	cpu      time.Duration // berthd's CPU time meanwhile
}

func median(rs []result) result {
	s := slices.Clone(rs)
	sort.Slice(s, func(i, j int) bool { return s[i].rate < s[j].rate })
	return s[len(s)/2]
}

// cpuPerRequest is berthd's CPU time per request over rounds.
func cpuPerRequest(rs []result) time.Duration {
	var cpu time.Duration
	var n int
	for _, r := range rs {
		cpu += r.cpu
		n += r.requests
	}
	return cpu / time.Duration(max(n, 1))
}

// load runs clients goroutines for dur, each sending GETs to srv one after
// the other, to the targets in turn (each starting at another one), and
// reports the rate of successful requests and berthd's CPU time meanwhile.
// Any failed request fails the measurement.
func (d *daemon) load(ctx context.Context, targets []target, srv server, via path, keepAlive bool, clients int, dur time.Duration) (result, error) {
	tr := &http.Transport{
		DisableKeepAlives:   !keepAlive,
		MaxIdleConns:        len(targets) * clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var reused atomic.Int64
	trace := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				reused.Add(1)
			}
		},
	})
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	cpu0 := cpuTime(d.Cmd.Process.Pid)
	stop := time.Now().Add(dur)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for i := w * len(targets) / clients; time.Now().Before(stop); i++ {
				t := targets[i%len(targets)]
				u := t.url[srv][via]
				t0 := time.Now()
				if err := get(trace, c, u); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpu := cpuTime(d.Cmd.Process.Pid) - cpu0
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return result{}, errors.New("no request completed")
	}
	return result{
		rate:     float64(len(all)) / elapsed.Seconds(),
		requests: len(all),
		p50:      pct(all, 50),
		p99:      pct(all, 99),
		reused:   float64(reused.Load()) / float64(len(all)),
		cpu:      cpu,
	}, nil
}

// cpuTime is the CPU time pid's threads have used, from their schedstat
// (nanoseconds, where /proc/<pid>/stat counts clock ticks).
func cpuTime(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

func timed(f func() error) (time.Duration, error) {
	begin := time.Now()
	err := f()
	return time.Since(begin), err
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }
