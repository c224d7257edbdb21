package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-engine/berth/network/ipam"
)

// Containers on networks: each test runs its berthd in a network namespace
// of its own (daemonOpts.network), with its default bridge and firewall
// table there, and reaches published ports and container addresses from
// inside that namespace. Nothing leaves the machine.

const fixtureIndex = "<h1>berth fixture</h1>"

// netDocker is a networked berthd with busybox and fixture/layered:1.0
// loaded, a docker CLI, and a way to run commands in berthd's namespace.
type netDocker struct {
	t      *testing.T
	d      *daemon
	docker *dockerCLI
}

func newNetDocker(t *testing.T) *netDocker {
	t.Helper()
	return newNetDockerOpts(t, daemonOpts{})
}

// newNetDockerOpts is newNetDocker with more options (network is set).
func newNetDockerOpts(t *testing.T, opts daemonOpts) *netDocker {
	t.Helper()
	for _, tool := range []string{"nsenter", "ip", "nft", "/bin/busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not available: %v", tool, err)
		}
	}
	opts.network = true
	d, docker := newContainerDocker(t, opts, true)
	return &netDocker{t: t, d: d, docker: docker}
}

// inNS runs a command in berthd's network namespace.
func (n *netDocker) inNS(args ...string) cliResult {
	n.t.Helper()
	cmd, _ := n.d.running()
	if cmd == nil {
		n.t.Fatal("berthd is not running")
	}
	argv := append([]string{fmt.Sprintf("--net=/proc/%d/ns/net", cmd.Process.Pid)}, args...)
	return runCLI(n.t, os.Environ(), "nsenter", argv...)
}

// get fetches http://addr/ from berthd's namespace (HTTP/1.0 through
// busybox nc: the host's static busybox wget crashes), retrying for a few
// seconds while the server starts. It returns the response body.
func (n *netDocker) get(addr string) (string, error) {
	n.t.Helper()
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		port = "80"
	}
	var r cliResult
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = n.inNS("/bin/busybox", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 2 "$0" "$1"`, host, port)
		if _, body, ok := strings.Cut(r.stdout, "\r\n\r\n"); r.exitCode == 0 && strings.HasPrefix(r.stdout, "HTTP/1.") && ok {
			if !strings.HasPrefix(r.stdout, "HTTP/1.0 200") && !strings.HasPrefix(r.stdout, "HTTP/1.1 200") {
				return "", fmt.Errorf("GET http://%s/: %s", addr, strings.SplitN(r.stdout, "\r\n", 2)[0])
			}
			return body, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("GET http://%s/: %s", addr, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// veths are the host-side veth interfaces in berthd's namespace.
func (n *netDocker) veths() []string {
	n.t.Helper()
	r := n.inNS("ip", "-o", "link", "show", "type", "veth")
	if r.exitCode != 0 {
		n.t.Fatalf("ip link: %s", r)
	}
	return lines(r.stdout)
}

// portRules are the rules of published ports in Berth's nftables table.
func (n *netDocker) portRules() []string {
	n.t.Helper()
	r := n.inNS("nft", "list", "table", "ip", "berth")
	if r.exitCode != 0 {
		n.t.Fatalf("nft list table ip berth: %s", r)
	}
	var out []string
	for _, l := range lines(r.stdout) {
		if strings.Contains(l, `comment "port:`) {
			out = append(out, l)
		}
	}
	return out
}

// A published port answers from berthd's namespace (through DNAT and the
// userland proxy); -p with no host port gets an ephemeral one that docker
// port, ps and inspect show; inspect shows the endpoint on the default
// bridge; a port already taken fails the start cleanly.
func TestContainerNetworkPublish(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker

	docker.ok("run", "-d", "--name", "web", "-p", "127.0.0.1:18080:80", "fixture/layered:1.0")
	body, err := n.get("127.0.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, fixtureIndex) {
		t.Errorf("published port answered %q, want the fixture's index", body)
	}
	if got := docker.out("port", "web"); got != "80/tcp -> 127.0.0.1:18080" {
		t.Errorf("docker port web: %q", got)
	}

	// The endpoint, as inspect shows it; the container's address answers
	// directly too.
	ip := docker.inspect("{{.NetworkSettings.Networks.bridge.IPAddress}}", "web")
	gw := docker.inspect("{{.NetworkSettings.Networks.bridge.Gateway}}", "web")
	mac := docker.inspect("{{.NetworkSettings.Networks.bridge.MacAddress}}", "web")
	plen := docker.inspect("{{.NetworkSettings.Networks.bridge.IPPrefixLen}}", "web")
	if !regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`).MatchString(ip) || !regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`).MatchString(gw) {
		t.Fatalf("inspect: IPAddress %q Gateway %q", ip, gw)
	}
	if !regexp.MustCompile(`^02:42(:[0-9a-f]{2}){4}$`).MatchString(mac) || plen == "0" || plen == "" {
		t.Errorf("inspect: MacAddress %q IPPrefixLen %q", mac, plen)
	}
	if id := docker.inspect("{{.NetworkSettings.Networks.bridge.NetworkID}}", "web"); len(id) != 64 {
		t.Errorf("inspect: NetworkID %q", id)
	}
	// The deprecated top-level fields API 1.44 still has (docker-py and
	// scripts read them): the default bridge's endpoint.
	if got := docker.inspect("{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.IPPrefixLen}}", "web"); got != ip+" "+gw+" "+mac+" "+plen {
		t.Errorf("inspect top-level NetworkSettings: %q, want %q", got, ip+" "+gw+" "+mac+" "+plen)
	}
	if body, err := n.get(ip + ":80"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the container's address: %q, %v", body, err)
	}
	// Inside: eth0 with that address, the gateway as default route, and
	// the address in /etc/hosts.
	if out := docker.out("exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, "inet "+ip+"/"+plen) {
		t.Errorf("eth0 in the container: %q", out)
	}
	if out := docker.out("exec", "web", "ip", "route"); !strings.Contains(out, "default via "+gw) {
		t.Errorf("routes in the container: %q", out)
	}
	if out := docker.out("exec", "web", "cat", "/etc/hosts"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ip) + `\s`).MatchString(out) {
		t.Errorf("/etc/hosts lacks the container's address %s:\n%s", ip, out)
	}

	// An ephemeral host port.
	docker.ok("run", "-d", "--name", "eph", "-p", "80", "fixture/layered:1.0")
	port := docker.out("port", "eph", "80")
	m := regexp.MustCompile(`^0\.0\.0\.0:(\d+)$`).FindStringSubmatch(port)
	if m == nil {
		t.Fatalf("docker port eph 80: %q", port)
	}
	if hp := docker.inspect(`{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, "eph"); hp != m[1] {
		t.Errorf("inspect HostPort %q, docker port %q", hp, m[1])
	}
	if out := docker.out("ps", "--filter", "name=eph", "--format", "{{.Ports}}"); out != "0.0.0.0:"+m[1]+"->80/tcp" {
		t.Errorf("docker ps PORTS: %q", out)
	}
	if body, err := n.get("127.0.0.1:" + m[1]); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the ephemeral port: %q, %v", body, err)
	}
	// -P publishes the image's EXPOSE.
	docker.ok("run", "-d", "--name", "all", "-P", "fixture/layered:1.0")
	if out := docker.out("port", "all"); !regexp.MustCompile(`^80/tcp -> 0\.0\.0\.0:\d+$`).MatchString(out) {
		t.Errorf("docker port all: %q", out)
	}

	// A host port range: the first free port of it (web holds 18080); and
	// a range onto a range, one to one.
	docker.ok("run", "-d", "--name", "ranged", "-p", "127.0.0.1:18080-18082:80", "-p", "127.0.0.1:18090-18091:90-91", "fixture/layered:1.0")
	if got := docker.out("port", "ranged"); got != "80/tcp -> 127.0.0.1:18081\n90/tcp -> 127.0.0.1:18090\n91/tcp -> 127.0.0.1:18091" {
		t.Errorf("docker port ranged: %q", got)
	}
	if body, err := n.get("127.0.0.1:18081"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the port picked from the range: %q, %v", body, err)
	}
	docker.ok("rm", "-f", "ranged")

	// A port already taken: a clear error, and nothing left running.
	veths := n.veths()
	r := docker.run("run", "-d", "--name", "clash", "-p", "127.0.0.1:18080:80", "fixture/layered:1.0")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "18080") || !(strings.Contains(r.stderr, "port is already allocated") || strings.Contains(r.stderr, "address already in use")) {
		t.Errorf("run on a taken port: %s", r)
	}
	if st := docker.inspect("{{.State.Status}}", "clash"); st == "running" {
		t.Errorf("the container on a taken port is %s", st)
	}
	if got := n.veths(); len(got) != len(veths) {
		t.Errorf("veths after the failed start: %d, before %d:\n%s", len(got), len(veths), strings.Join(got, "\n"))
	}
	if body, err := n.get("127.0.0.1:18080"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the first container's port after the clash: %q, %v", body, err)
	}

	// Stopping releases the port; starting again publishes it again.
	docker.ok("stop", "-t", "1", "web")
	if got := docker.out("port", "web"); got != "" {
		t.Errorf("docker port of a stopped container: %q", got)
	}
	docker.ok("start", "clash")
	if body, err := n.get("127.0.0.1:18080"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the port taken over by clash: %q, %v", body, err)
	}
}

// --network none has only lo; the default bridge gives eth0; a network that
// does not exist is refused at create; host and container:<x> share a
// namespace.
func TestContainerNetworkModes(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker

	out := docker.out("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
	if got := strings.Fields(out); len(got) != 1 || got[0] != "lo" {
		t.Errorf("--network none interfaces: %q", out)
	}
	out = docker.out("run", "--rm", "busybox", "ls", "/sys/class/net")
	if got := strings.Fields(out); len(got) != 2 || got[0] != "eth0" || got[1] != "lo" {
		t.Errorf("default bridge interfaces: %q", out)
	}
	docker.fail(125, "network nope not found", "run", "--rm", "--pull", "never", "--network", "nope", "busybox", "true")
	docker.ok("create", "--name", "idle", "busybox", "true")
	if got := docker.inspect("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", "idle"); got != "bridge" {
		t.Errorf("networks of a created container: %q", got)
	}
	// host: berthd's own namespace (here the test's namespace for it), its
	// links and all.
	linkNames := func(out string) []string {
		var names []string
		for _, l := range lines(out) {
			if f := strings.Fields(l); len(f) > 1 {
				name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
				names = append(names, name)
			}
		}
		return names
	}
	hostLinks := n.inNS("ip", "-o", "link", "show")
	if got, want := linkNames(docker.out("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link", "show")), linkNames(hostLinks.stdout); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--network host links %q, berthd's namespace has %q", got, want)
	}
	// container:<name> shares the other's namespace: same eth0, same address.
	docker.ok("run", "-d", "--name", "owner", "busybox", "sleep", "300")
	ip := docker.inspect("{{.NetworkSettings.Networks.bridge.IPAddress}}", "owner")
	if out := docker.out("run", "--rm", "--network", "container:owner", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, " "+ip+"/") {
		t.Errorf("--network container:owner sees %q, want owner's %s", out, ip)
	}
	docker.ok("rm", "-f", "owner")
	if got := n.veths(); len(got) != 0 {
		t.Errorf("veths left: %q", got)
	}
}

// --ip gives a static address on a user network (at run and at a live
// connect); networks are isolated from each other; and after a crash of
// berthd no address is handed out twice.
func TestContainerNetworkStaticIPIsolationCrash(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker
	docker.ok("network", "create", "--subnet", "10.77.0.0/24", "front")
	docker.ok("network", "create", "--subnet", "10.78.0.0/24", "back")

	docker.ok("run", "-d", "--name", "fixed", "--network", "front", "--ip", "10.77.0.50", "busybox", "sleep", "300")
	if got := docker.inspect("{{.NetworkSettings.Networks.front.IPAddress}}", "fixed"); got != "10.77.0.50" {
		t.Errorf("--ip: inspect shows %q", got)
	}
	docker.fail(125, "10.77.0.50", "run", "--rm", "--network", "front", "--ip", "10.77.0.50", "busybox", "true")
	docker.ok("run", "-d", "--name", "other", "--network", "back", "busybox", "sleep", "300")
	otherIP := docker.inspect("{{.NetworkSettings.Networks.back.IPAddress}}", "other")
	// Isolated: fixed (front) cannot reach other (back).
	if r := docker.run("exec", "fixed", "ping", "-c1", "-W1", otherIP); r.exitCode == 0 {
		t.Errorf("a container on front reached one on back: %s", r)
	}
	// Connected live to back with --ip: now it can.
	docker.ok("network", "connect", "--ip", "10.78.0.60", "back", "fixed")
	if got := docker.inspect("{{.NetworkSettings.Networks.back.IPAddress}}", "fixed"); got != "10.78.0.60" {
		t.Errorf("connect --ip: inspect shows %q", got)
	}
	docker.ok("exec", "fixed", "ping", "-c1", "-W2", otherIP)

	// A crash: the containers keep running (their shims outlive berthd);
	// the next berthd finds them dead or alive, and new containers never
	// get an address one of them holds.
	for i := 0; i < 3; i++ {
		docker.ok("run", "-d", "--network", "front", "busybox", "sleep", "300")
	}
	docker.ok("run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "300")
	n.d.kill()
	n.d.start()
	for i := 0; i < 3; i++ {
		docker.ok("run", "-d", "--network", "front", "busybox", "sleep", "300")
	}
	seen := map[string]string{}
	for _, id := range lines(docker.out("ps", "-q")) {
		for _, addr := range strings.Fields(docker.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id)) {
			if prev, dup := seen[addr]; dup {
				t.Errorf("address %s held by %s and %s", addr, prev, id)
			}
			seen[addr] = id
		}
	}
	// And what the crash left is released once its containers go.
	docker.ok(append([]string{"rm", "-f"}, lines(docker.out("ps", "-aq"))...)...)
	waitFor(t, 10*time.Second, "veths and port rules to go", func() bool { return len(n.veths()) == 0 && len(n.portRules()) == 0 })
}

// Two containers on a user network find each other by name and alias
// through the embedded DNS.
func TestContainerNetworkUserDNS(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker
	if r := n.d.do("POST", "/v1.44/networks/create", map[string]any{"Name": "probe"}); r.status != 201 {
		t.Skipf("POST /networks/create answers %d: user networks are not served yet", r.status)
	}
	n.d.do("DELETE", "/v1.44/networks/probe", nil)

	docker.ok("network", "create", "n1")
	docker.ok("run", "-d", "--name", "alpha", "--network", "n1", "busybox", "sleep", "300")
	docker.ok("run", "-d", "--name", "beta", "--network", "n1", "--network-alias", "bee", "busybox", "sleep", "300")
	for _, target := range []string{"beta", "bee", "alpha"} {
		if r := docker.run("exec", "alpha", "ping", "-c1", "-W2", target); r.exitCode != 0 {
			t.Errorf("alpha cannot ping %s: %s", target, r)
		}
	}
	if r := docker.run("exec", "beta", "ping", "-c1", "-W2", "alpha"); r.exitCode != 0 {
		t.Errorf("beta cannot ping alpha: %s", r)
	}
	// And by its short ID, as Docker's embedded DNS answers.
	if id := docker.inspect("{{.Id}}", "alpha"); len(id) < 12 {
		t.Errorf("alpha's ID %q", id)
	} else if r := docker.run("exec", "beta", "ping", "-c1", "-W2", id[:12]); r.exitCode != 0 {
		t.Errorf("beta cannot ping alpha by its short ID: %s", r)
	}
	if out := docker.out("exec", "alpha", "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver 127.0.0.11") || !strings.Contains(out, "ndots:0") {
		t.Errorf("resolv.conf on a user network:\n%s", out)
	}
	if got := docker.inspect("{{index .NetworkSettings.Networks.n1.Aliases 0}}", "beta"); got != "bee" {
		t.Errorf("beta's aliases: %q", got)
	}
	// HTTP by name: beta serves its /etc with busybox httpd, alpha fetches.
	docker.ok("exec", "-d", "beta", "httpd", "-f", "-p", "8000", "-h", "/etc")
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r := docker.run("exec", "alpha", "wget", "-q", "-O", "-", "http://bee:8000/hostname"); r.exitCode == 0 {
			got = r.stdout
			break
		}
	}
	if beta := docker.inspect("{{.Config.Hostname}}", "beta"); strings.TrimSpace(got) != beta {
		t.Errorf("wget http://bee:8000/hostname from alpha: %q, want %q", got, beta)
	}
	docker.ok("rm", "-f", "alpha", "beta")
	docker.ok("network", "rm", "n1")
}

// A storm of 100 `docker run --rm -p` containers (ten at a time, each
// exiting on its own) leaves berthd's namespace as it found it: the same
// links, the same nftables ruleset, no address held in the IPAM db; then 20
// detached ones removed with rm -f release their veths and port rules, and
// no host port was handed out twice.
func TestContainerNetworkCleanup(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker

	links := func() string {
		r := n.inNS("ip", "-o", "link", "show")
		if r.exitCode != 0 {
			t.Fatalf("ip link: %s", r)
		}
		// Names only: a bridge's carrier flags follow its ports.
		var names []string
		for _, l := range lines(r.stdout) {
			if f := strings.Fields(l); len(f) > 1 {
				names = append(names, strings.TrimSuffix(f[1], ":"))
			}
		}
		return strings.Join(names, " ")
	}
	ruleset := func() string {
		r := n.inNS("nft", "-s", "list", "ruleset") // -s: no counters
		if r.exitCode != 0 {
			t.Fatalf("nft list ruleset: %s", r)
		}
		return r.stdout
	}
	linksBefore, rulesBefore := links(), ruleset()

	const storm, parallel = 100, 10
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < storm; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := docker.run("run", "--rm", "-p", "0:80", "-p", "127.0.0.1::81/udp", "busybox", "true")
			if r.exitCode != 0 {
				mu.Lock()
				failures = append(failures, r.String())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d runs failed; first:\n%s", len(failures), storm, failures[0])
	}
	waitFor(t, 10*time.Second, "the storm's containers to be removed", func() bool { return docker.out("ps", "-aq") == "" })
	if got := links(); got != linksBefore {
		t.Errorf("links after the storm:\n%s\nbefore:\n%s", got, linksBefore)
	}
	if got := ruleset(); got != rulesBefore {
		t.Errorf("nftables ruleset after the storm:\n%s\nbefore:\n%s", got, rulesBefore)
	}

	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, docker.out("run", "--rm", "-d", "-p", "0:80", "fixture/layered:1.0"))
	}
	if got := n.veths(); len(got) != 20 {
		t.Errorf("%d veths with 20 containers running", len(got))
	}
	if got := n.portRules(); len(got) < 20 {
		t.Errorf("%d port rules with 20 containers publishing a port:\n%s", len(got), strings.Join(got, "\n"))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		p := docker.out("port", id, "80")
		if seen[p] {
			t.Errorf("host port %s handed out twice", p)
		}
		seen[p] = true
	}
	docker.ok(append([]string{"rm", "-f"}, ids...)...)
	waitFor(t, 10*time.Second, "veths and port rules to go", func() bool { return len(n.veths()) == 0 && len(n.portRules()) == 0 })
	if got := docker.out("ps", "-aq"); got != "" {
		t.Errorf("containers left: %q", got)
	}
	if got := links(); got != linksBefore {
		t.Errorf("links at the end:\n%s\nbefore:\n%s", got, linksBefore)
	}
	if got := ruleset(); got != rulesBefore {
		t.Errorf("nftables ruleset at the end:\n%s\nbefore:\n%s", got, rulesBefore)
	}

	// A clean stop removes Berth's nftables table.
	n.d.stop()
	r := runCLI(t, os.Environ(), "nsenter", fmt.Sprintf("--net=/proc/%d/fd/%d", os.Getpid(), n.d.netns.Fd()), "nft", "list", "tables")
	if r.exitCode != 0 || strings.Contains(r.stdout, "table ip berth") {
		t.Errorf("nft tables after berthd stopped: %s", r)
	}
	// The IPAM db, read once berthd has let go of it: no address held.
	store, err := ipam.Open(filepath.Join(n.d.dataRoot, "network", "ipam.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	nets, err := store.Networks()
	if err != nil {
		t.Fatal(err)
	}
	for _, nw := range nets {
		if held, err := store.Allocations(nw.ID); err != nil || len(held) != 0 {
			t.Errorf("IPAM: network %s holds %v (%v) after every container is gone", nw.ID, held, err)
		}
	}
}

// With live-restore, a container's networking outlives berthd: after a
// restart its published port answers through a new proxy, its name still
// resolves on its user network, and its veth and rules are the same; when
// it stops afterwards, all of it is released.
func TestContainerNetworkLiveRestore(t *testing.T) {
	t.Parallel()
	n := newNetDockerOpts(t, daemonOpts{args: []string{"--live-restore"}})
	docker := n.docker
	docker.ok("network", "create", "lr")
	docker.ok("run", "-d", "--name", "web", "--network", "lr", "--network-alias", "site", "-p", "127.0.0.1:18086:80", "fixture/layered:1.0")
	docker.ok("run", "-d", "--name", "client", "--network", "lr", "busybox", "sleep", "300")
	if body, err := n.get("127.0.0.1:18086"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Fatalf("before the restart: %q, %v", body, err)
	}
	veths, rules := n.veths(), n.portRules()

	n.d.stop()
	n.d.start()
	if st := docker.inspect("{{.State.Status}}", "web"); st != "running" {
		t.Fatalf("web is %s after a live-restore restart", st)
	}
	if body, err := n.get("127.0.0.1:18086"); err != nil || !strings.Contains(body, fixtureIndex) {
		t.Errorf("the published port after the restart: %q, %v", body, err)
	}
	docker.ok("exec", "client", "ping", "-c1", "-W2", "site")
	if got := n.veths(); len(got) != len(veths) {
		t.Errorf("veths after the restart:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(veths, "\n"))
	}
	if got := n.portRules(); strings.Join(got, "\n") != strings.Join(rules, "\n") {
		t.Errorf("port rules after the restart:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(rules, "\n"))
	}

	docker.ok("rm", "-f", "web", "client")
	waitFor(t, 10*time.Second, "veths and port rules to go", func() bool { return len(n.veths()) == 0 && len(n.portRules()) == 0 })
	docker.ok("network", "rm", "lr")
}
