package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
)

// The network API and CLIs: each test runs its berthd in a network
// namespace of its own (daemonOpts.network), so the bridges and the
// firewall table it makes are there, never on the host; the tests look at
// them with nsenter.

// newNetworkDaemon starts a networked berthd and a docker CLI for it,
// skipping when the tools the namespace needs are missing.
func newNetworkDaemon(t *testing.T) (*daemon, *dockerCLI) {
	t.Helper()
	for _, tool := range []string{"nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not available: %v", tool, err)
		}
	}
	d := startDaemon(t, daemonOpts{network: true})
	return d, newDockerCLI(t, d)
}

// links are the `ip -o link` and `ip -o -4 addr` lines of berthd's
// namespace.
func (d *daemon) nsLinks(t *testing.T) string {
	t.Helper()
	cmd, _ := d.running()
	if cmd == nil {
		t.Fatal("berthd is not running")
	}
	ns := fmt.Sprintf("--net=/proc/%d/ns/net", cmd.Process.Pid)
	var out strings.Builder
	for _, args := range [][]string{{"ip", "-o", "link"}, {"ip", "-o", "-4", "addr"}} {
		r := runCLI(t, os.Environ(), "nsenter", append([]string{ns}, args...)...)
		if r.exitCode != 0 {
			t.Fatalf("nsenter %s: %s", strings.Join(args, " "), r)
		}
		out.WriteString(r.stdout)
	}
	return out.String()
}

// inspectNetwork runs docker network inspect on one network and decodes it.
func inspectNetwork(t *testing.T, docker *dockerCLI, ref string) network.Inspect {
	t.Helper()
	var got []network.Inspect
	if err := json.Unmarshal([]byte(docker.ok("network", "inspect", ref)), &got); err != nil || len(got) != 1 {
		t.Fatalf("docker network inspect %s: %v (%d networks)", ref, err, len(got))
	}
	return got[0]
}

// fieldsOf is each line with its columns separated by one space.
func fieldsOf(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = strings.Join(strings.Fields(l), " ")
	}
	return out
}

// mustFail runs a command that must exit 1 and print want on stderr.
func mustFail(t *testing.T, r cliResult, want, what string) {
	t.Helper()
	if r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("%s: want a failure saying %q, got %s", what, want, r)
	}
}

func TestNetworkBuiltins(t *testing.T) {
	t.Parallel()
	d, docker := newNetworkDaemon(t)

	out := docker.ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
	if want := "bridge bridge local\nhost host local\nnone null local\n"; out != want {
		t.Errorf("docker network ls:\n%s\nwant:\n%s", out, want)
	}

	br := inspectNetwork(t, docker, "bridge")
	if len(br.IPAM.Config) != 1 || !br.IPAM.Config[0].Subnet.IsValid() || !br.IPAM.Config[0].Gateway.IsValid() {
		t.Fatalf("bridge IPAM: %+v", br.IPAM)
	}
	subnet, gw := br.IPAM.Config[0].Subnet, br.IPAM.Config[0].Gateway
	if !subnet.Contains(gw) || br.IPAM.Driver != "default" || br.Scope != "local" || br.Driver != "bridge" ||
		!br.EnableIPv4 || br.EnableIPv6 || br.Internal || br.Containers == nil || br.Labels == nil {
		t.Errorf("bridge: %+v", br)
	}
	wantOpts := map[string]string{
		"com.docker.network.bridge.default_bridge":       "true",
		"com.docker.network.bridge.enable_icc":           "true",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
		"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
		"com.docker.network.bridge.name":                 "berth0",
		"com.docker.network.driver.mtu":                  "1500",
	}
	if fmt.Sprint(br.Options) != fmt.Sprint(wantOpts) {
		t.Errorf("bridge Options = %v, want %v", br.Options, wantOpts)
	}
	// The bridge exists in berthd's namespace, with the gateway address.
	links := d.nsLinks(t)
	if !strings.Contains(links, " berth0: ") || !strings.Contains(links, fmt.Sprintf("inet %s/%d", gw, subnet.Bits())) {
		t.Errorf("berth0 with %s/%d not in berthd's namespace:\n%s", gw, subnet.Bits(), links)
	}

	// The raw JSON: never null where Docker shows {} or [].
	raw := docker.ok("network", "inspect", "host", "--format", "{{json .IPAM.Config}} {{json .Options}} {{json .Labels}} {{json .Containers}} {{.Driver}}")
	if want := "[] {} {} {} host\n"; raw != want {
		t.Errorf("inspect host: %q, want %q", raw, want)
	}
	if id := docker.ok("network", "inspect", "none", "--format", "{{.Id}}"); strings.TrimSpace(id) != inspectNetwork(t, docker, "none").ID {
		t.Errorf("none ID %q", id)
	}

	mustFail(t, docker.run("network", "rm", "bridge"), "Error response from daemon: bridge is a pre-defined network and cannot be removed", "rm bridge")
	mustFail(t, docker.run("network", "rm", "host"), "host is a pre-defined network and cannot be removed", "rm host")
	mustFail(t, docker.run("network", "create", "none"), "operation is not permitted on predefined none network", "create none")
	mustFail(t, docker.run("network", "create", "-d", "host", "myhost"), `only one instance of "host" network is allowed`, "create -d host")
	mustFail(t, docker.run("network", "create", "--ipv6", "six"), "IPv6 networks are not supported yet", "create --ipv6")
	mustFail(t, docker.run("network", "inspect", "nope"), "network nope not found", "inspect nope")
	mustFail(t, docker.run("network", "rm", "nope"), "network nope not found", "rm nope")
}

func TestNetworkCreateInspectRemove(t *testing.T) {
	t.Parallel()
	d, docker := newNetworkDaemon(t)
	ev := d.streamEvents(filtersQuery(map[string][]string{"type": {"network"}}))

	id := strings.TrimSpace(docker.ok("network", "create",
		"--subnet", "10.123.0.0/24", "--gateway", "10.123.0.254", "--ip-range", "10.123.0.128/25",
		"--internal", "--label", "team=db", "--label", "tier",
		"-o", "com.docker.network.bridge.name=brtest0", "backend"))
	if len(id) != 64 {
		t.Fatalf("create printed %q, want a 64-hex ID", id)
	}
	m := ev.expect(events.NetworkEventType, events.ActionCreate, id)
	if m.Actor.Attributes["name"] != "backend" || m.Actor.Attributes["type"] != "bridge" {
		t.Errorf("create event attributes %v", m.Actor.Attributes)
	}

	for _, ref := range []string{"backend", id, id[:12], id[:5]} {
		n := inspectNetwork(t, docker, ref)
		if n.ID != id || n.Name != "backend" {
			t.Errorf("inspect %s: %s %s", ref, n.Name, n.ID)
		}
	}
	n := inspectNetwork(t, docker, "backend")
	if len(n.IPAM.Config) != 1 {
		t.Fatalf("IPAM %+v", n.IPAM)
	}
	c := n.IPAM.Config[0]
	if c.Subnet.String() != "10.123.0.0/24" || c.Gateway.String() != "10.123.0.254" || c.IPRange.String() != "10.123.0.128/25" {
		t.Errorf("IPAM config %+v", c)
	}
	if !n.Internal || n.Driver != "bridge" || n.Scope != "local" || n.Labels["team"] != "db" || n.Labels["tier"] != "" || len(n.Labels) != 2 ||
		n.Options["com.docker.network.bridge.name"] != "brtest0" || len(n.Containers) != 0 {
		t.Errorf("inspect backend: %+v", n)
	}
	if links := d.nsLinks(t); !strings.Contains(links, " brtest0: ") || !strings.Contains(links, "inet 10.123.0.254/24") {
		t.Errorf("brtest0 with 10.123.0.254/24 not in berthd's namespace:\n%s", links)
	}

	// A second network on a picked subnet, and the refusals.
	docker.ok("network", "create", "frontend")
	front := inspectNetwork(t, docker, "frontend")
	if len(front.IPAM.Config) != 1 || front.IPAM.Config[0].Subnet.Overlaps(c.Subnet) || front.Internal {
		t.Errorf("frontend: %+v", front)
	}
	mustFail(t, docker.run("network", "create", "backend"), "Error response from daemon: network with name backend already exists", "duplicate name")
	mustFail(t, docker.run("network", "create", "--subnet", "10.123.0.0/16", "overlap"),
		"Error response from daemon: invalid pool request: Pool overlaps with other one on this address space", "overlapping subnet")
	mustFail(t, docker.run("network", "create", "-d", "overlay", "ov"), "could not find plugin overlay in v1 plugin registry: plugin not found", "overlay driver")
	r := d.do("POST", "/v1.44/networks/create", network.CreateRequest{Name: "backend"})
	expectError(t, r, 409, "network with name backend already exists", "duplicate create over the API")

	// ls and its filters.
	ls := func(args ...string) string {
		t.Helper()
		return strings.Join(lines(docker.ok(append([]string{"network", "ls", "--format", "{{.Name}}"}, args...)...)), " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "backend bridge frontend host none"},
		{[]string{"-f", "driver=bridge"}, "backend bridge frontend"},
		{[]string{"-f", "driver=null"}, "none"},
		{[]string{"-f", "name=end"}, "backend frontend"},
		{[]string{"-f", "name=^back"}, "backend"},
		{[]string{"-f", "id=" + id[:10]}, "backend"},
		{[]string{"-f", "label=team"}, "backend"},
		{[]string{"-f", "label=team=db"}, "backend"},
		{[]string{"-f", "label=team=web"}, ""},
		{[]string{"-f", "type=custom"}, "backend frontend"},
		{[]string{"-f", "type=builtin"}, "bridge host none"},
		{[]string{"-f", "dangling=true"}, "backend frontend"},
		{[]string{"-f", "dangling=false"}, "bridge host none"},
		{[]string{"-f", "scope=local", "-f", "driver=bridge", "-f", "type=custom"}, "backend frontend"},
		{[]string{"-f", "scope=swarm"}, ""},
	} {
		if got := ls(tc.args...); got != tc.want {
			t.Errorf("network ls %v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if q := lines(docker.ok("network", "ls", "-q", "-f", "name=backend")); len(q) != 1 || q[0] != id[:12] {
		t.Errorf("ls -q: %v", q)
	}
	mustFail(t, docker.run("network", "ls", "-f", "type=weird"), "invalid filter: 'type'='weird'", "ls -f type=weird")
	mustFail(t, docker.run("network", "ls", "-f", "color=red"), "invalid filter 'color'", "ls -f color=red")

	// rm by ID prefix: the bridge goes too.
	if out := docker.ok("network", "rm", id[:12]); strings.TrimSpace(out) != id[:12] {
		t.Errorf("rm printed %q", out)
	}
	m = ev.expect(events.NetworkEventType, events.ActionCreate, front.ID)
	m = ev.expect(events.NetworkEventType, events.ActionDestroy, id)
	if m.Actor.Attributes["name"] != "backend" || m.Actor.Attributes["type"] != "bridge" {
		t.Errorf("destroy event attributes %v", m.Actor.Attributes)
	}
	if links := d.nsLinks(t); strings.Contains(links, "brtest0") {
		t.Errorf("brtest0 still in berthd's namespace after rm:\n%s", links)
	}
	if got := ls(); got != "bridge frontend host none" {
		t.Errorf("ls after rm: %q", got)
	}
	// The subnet is free again.
	docker.ok("network", "create", "--subnet", "10.123.0.0/16", "again")
}

func TestNetworkPrune(t *testing.T) {
	t.Parallel()
	d, docker := newNetworkDaemon(t)
	for _, args := range [][]string{{"p1"}, {"--label", "keep", "p2"}, {"--label", "env=dev", "p3"}} {
		docker.ok(append([]string{"network", "create"}, args...)...)
	}
	ev := d.streamEvents(filtersQuery(map[string][]string{"type": {"network"}, "event": {"prune"}}))

	out := docker.ok("network", "prune", "-f", "--filter", "label!=keep", "--filter", "label=env=dev")
	if want := "Deleted Networks:\np3\n\n"; out != want {
		t.Errorf("prune with filters printed %q, want %q", out, want)
	}
	if m := ev.expect(events.NetworkEventType, events.ActionPrune, ""); m.Actor.Attributes["reclaimed"] != "0" {
		t.Errorf("prune event %v", m.Actor.Attributes)
	}
	out = docker.ok("network", "prune", "-f", "--filter", "until=1h")
	if out != "" {
		t.Errorf("prune until=1h (networks newer) printed %q", out)
	}
	out = docker.ok("network", "prune", "-f", "--filter", "label!=keep")
	if want := "Deleted Networks:\np1\n\n"; out != want {
		t.Errorf("prune label!=keep printed %q, want %q", out, want)
	}
	out = docker.ok("network", "prune", "-f")
	if want := "Deleted Networks:\np2\n\n"; out != want {
		t.Errorf("prune printed %q, want %q", out, want)
	}
	if got := strings.Join(lines(docker.ok("network", "ls", "--format", "{{.Name}}")), " "); got != "bridge host none" {
		t.Errorf("ls after prune: %q", got)
	}
	if links := d.nsLinks(t); strings.Contains(links, "br-") {
		t.Errorf("user bridges left in berthd's namespace after prune:\n%s", links)
	}
	mustFail(t, docker.run("network", "prune", "-f", "--filter", "dangling=true"), "invalid filter 'dangling'", "prune -f dangling")
}

func TestNetworkBerthCLI(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{network: true})
	berth := newBerthCLI(t, d)

	id := strings.TrimSpace(berth.ok("network", "create", "--subnet", "10.77.0.0/24", "--label", "app=web", "web"))
	if len(id) != 64 {
		t.Fatalf("berth network create printed %q", id)
	}
	out := berth.ok("network", "ls")
	if l := lines(out); len(l) != 5 || strings.Join(strings.Fields(l[0]), " ") != "NETWORK ID NAME DRIVER SCOPE" ||
		!containsLine(fieldsOf(l), id[:12]+" web bridge local") {
		t.Errorf("berth network ls:\n%s", out)
	}
	if got := strings.TrimSpace(berth.ok("network", "ls", "-q", "--filter", "label=app=web")); got != id[:12] {
		t.Errorf("berth network ls -q --filter label=app=web: %q", got)
	}
	if got := strings.TrimSpace(berth.ok("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", id[:6])); got != "10.77.0.0/24 10.77.0.1" {
		t.Errorf("berth network inspect: %q", got)
	}
	r := berth.run("network", "create", "web")
	mustFail(t, r, "network with name web already exists", "berth network create web twice")
	mustFail(t, berth.run("network", "rm", "none"), "none is a pre-defined network and cannot be removed", "berth network rm none")

	// Containers through berth: run with --network, --ip, --network-alias,
	// -p, --add-host; live connect and disconnect; berth port.
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	berth.ok("run", "-d", "--name", "w1", "--network", "web", "--ip", "10.77.0.9", "--network-alias", "one",
		"--add-host", "db.test:192.0.2.5", "-p", "127.0.0.1::80", "busybox", "sleep", "300")
	if got := strings.TrimSpace(berth.ok("inspect", "-f", "{{.NetworkSettings.Networks.web.IPAddress}}", "w1")); got != "10.77.0.9" {
		t.Errorf("berth run --ip: %q", got)
	}
	if out := berth.ok("exec", "w1", "cat", "/etc/hosts"); !strings.Contains(out, "192.0.2.5\tdb.test") {
		t.Errorf("berth run --add-host: /etc/hosts\n%s", out)
	}
	if out := strings.TrimSpace(berth.ok("port", "w1", "80")); !strings.HasPrefix(out, "127.0.0.1:") {
		t.Errorf("berth port w1 80: %q", out)
	}
	berth.ok("run", "-d", "--name", "w2", "busybox", "sleep", "300")
	berth.ok("network", "connect", "--alias", "two", "web", "w2")
	berth.ok("exec", "w1", "ping", "-c1", "-W2", "two")
	berth.ok("network", "disconnect", "web", "w2")
	if r := berth.run("exec", "w1", "ping", "-c1", "-W1", "two"); r.exitCode == 0 {
		t.Error("w2's alias still answers after berth network disconnect")
	}
	berth.ok("rm", "-f", "w1", "w2")
	if got := strings.TrimSpace(berth.ok("network", "rm", "web")); got != "web" {
		t.Errorf("berth network rm printed %q", got)
	}
	berth.ok("network", "create", "gone")
	if out := berth.ok("network", "prune", "-f"); !strings.Contains(out, "Deleted Networks:\ngone\n") {
		t.Errorf("berth network prune -f:\n%s", out)
	}
}

// TestNetworkConnectDisconnect: a stopped container records the networks
// it is connected to for its next start; a running one gains and loses
// interfaces at once (eth1...), with its names in the embedded DNS, its
// address in /etc/hosts and connect/disconnect events, and keeps the
// change across a restart.
func TestNetworkConnectDisconnect(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("nsenter not available")
	}
	d, docker := newContainerDocker(t, daemonOpts{network: true}, false)
	docker.ok("network", "create", "app")
	docker.ok("create", "--name", "stopped", "busybox", "true")
	docker.ok("create", "--name", "isolated", "--network", "none", "busybox", "true")
	docker.ok("create", "--name", "onhost", "--network", "host", "busybox", "true")

	docker.ok("network", "connect", "--alias", "db", "app", "stopped")
	docker.ok("network", "connect", "app", "stopped") // already recorded: no error, as Docker
	mustFail(t, docker.run("network", "connect", "--ip", "172.30.0.9", "bridge", "stopped"),
		"user specified IP address is supported on user defined networks only", "connect --ip bridge")
	mustFail(t, docker.run("network", "connect", "app", "isolated"),
		"container cannot be connected to multiple networks with one of the networks in private (none) mode", "connect a none container")
	mustFail(t, docker.run("network", "connect", "app", "onhost"),
		"container sharing network namespace with another container or host cannot be connected to any other network", "connect a host container")
	mustFail(t, docker.run("network", "connect", "app", "nosuch"), "No such container: nosuch", "connect a missing container")
	mustFail(t, docker.run("network", "connect", "nosuch", "stopped"), "network nosuch not found", "connect to a missing network")
	// Its record does not keep the network from being removed (Docker's
	// rule: only endpoints do).
	if got := strings.Join(lines(docker.ok("network", "ls", "-f", "dangling=true", "--format", "{{.Name}}")), " "); got != "app" {
		t.Errorf("dangling networks: %q", got)
	}

	// The recorded network is joined at the next start, as eth1, with its
	// alias resolvable there.
	docker.ok("create", "--name", "joiner", "busybox", "sleep", "60")
	docker.ok("network", "connect", "--alias", "jj", "app", "joiner")
	docker.ok("start", "joiner")
	if out := docker.ok("exec", "joiner", "ip", "-o", "-4", "addr", "show"); !strings.Contains(out, "eth0") || !strings.Contains(out, "eth1") {
		t.Errorf("a network connected while stopped was not joined at start:\n%s", out)
	}
	docker.ok("run", "-d", "--name", "peer", "--network", "app", "busybox", "sleep", "60")
	docker.ok("exec", "peer", "ping", "-c1", "-W2", "jj")
	docker.ok("rm", "-f", "joiner", "peer")

	docker.ok("network", "disconnect", "app", "stopped")
	mustFail(t, docker.run("network", "disconnect", "app", "stopped"), "is not connected to network app", "disconnect twice")

	// A running container on the default bridge joins app live: eth1, its
	// alias answers from a peer on app, its /etc/hosts gains the address,
	// and a second connect is Docker's 403.
	since := time.Now().Add(-time.Second).Unix()
	docker.ok("run", "-d", "--name", "live", "busybox", "sleep", "300")
	docker.ok("run", "-d", "--name", "peer2", "--network", "app", "busybox", "sleep", "300")
	docker.ok("network", "connect", "--alias", "hot", "app", "live")
	if out := docker.ok("exec", "live", "ip", "-o", "-4", "addr", "show"); !strings.Contains(out, "eth1") {
		t.Errorf("connect of a running container added no interface:\n%s", out)
	}
	docker.ok("exec", "peer2", "ping", "-c1", "-W2", "hot")
	docker.ok("exec", "peer2", "ping", "-c1", "-W2", "live")
	appIP := strings.TrimSpace(docker.ok("inspect", "-f", "{{(index .NetworkSettings.Networks \"app\").IPAddress}}", "live"))
	if appIP == "" {
		t.Fatal("inspect shows no address on app after a live connect")
	}
	if hosts := docker.ok("exec", "live", "cat", "/etc/hosts"); !strings.Contains(hosts, appIP+"\t") {
		t.Errorf("/etc/hosts lacks %s after connect:\n%s", appIP, hosts)
	}
	if conf := docker.ok("exec", "live", "cat", "/etc/resolv.conf"); !strings.Contains(conf, "nameserver 127.0.0.11") {
		t.Errorf("resolv.conf does not use the embedded DNS after joining a user network:\n%s", conf)
	}
	mustFail(t, docker.run("network", "connect", "app", "live"), "endpoint with name live already exists in network app", "connect twice")
	resp := d.do("POST", "/v1.44/networks/app/connect", network.ConnectRequest{Container: "live"})
	expectStatus(t, resp, 403, "connect twice over the API")

	// Disconnect: the interface, the name and the hosts line go; the
	// default bridge (its create-time network) can go too.
	docker.ok("network", "disconnect", "app", "live")
	if out := docker.ok("exec", "live", "ip", "-o", "link", "show"); strings.Contains(out, "eth1") {
		t.Errorf("eth1 is still there after disconnect:\n%s", out)
	}
	if r := docker.run("exec", "peer2", "ping", "-c1", "-W1", "hot"); r.exitCode == 0 {
		t.Error("the alias still resolves after disconnect")
	}
	if hosts := docker.ok("exec", "live", "cat", "/etc/hosts"); strings.Contains(hosts, appIP+"\t") {
		t.Errorf("/etc/hosts keeps %s after disconnect:\n%s", appIP, hosts)
	}
	docker.ok("network", "disconnect", "bridge", "live")
	if out := docker.ok("exec", "live", "ip", "-o", "link", "show"); strings.Contains(out, "eth0") {
		t.Errorf("eth0 is still there after disconnecting the default bridge:\n%s", out)
	}
	if got := docker.ok("inspect", "-f", "{{len .NetworkSettings.Networks}}", "live"); strings.TrimSpace(got) != "0" {
		t.Errorf("networks after disconnecting all: %s", got)
	}
	// Reconnected to app only: a restart joins app as eth0, not bridge.
	docker.ok("network", "connect", "app", "live")
	docker.ok("restart", "-t", "0", "live")
	if out := docker.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "live"); strings.TrimSpace(out) != "app" {
		t.Errorf("networks after restart: %q, want app only", out)
	}
	docker.ok("exec", "peer2", "ping", "-c1", "-W2", "live")
	liveID := strings.TrimSpace(docker.ok("inspect", "-f", "{{.Id}}", "live"))
	events := docker.ok("events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(time.Now().Unix()+1),
		"--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}")
	for _, want := range []string{"connect bridge " + liveID, "connect app " + liveID, "disconnect app " + liveID, "disconnect bridge " + liveID} {
		if !strings.Contains(events, want) {
			t.Errorf("network events lack %q:\n%s", want, events)
		}
	}
	docker.ok("rm", "-f", "live", "peer2")

	// A container without a network namespace of its own cannot join one.
	docker.ok("run", "-d", "--name", "running", "--network", "none", "busybox", "sleep", "60")
	mustFail(t, docker.run("network", "connect", "app", "running"),
		"container cannot be connected to multiple networks with one of the networks in private (none) mode", "connect a running none container")
	docker.ok("rm", "-f", "running")
	docker.ok("network", "rm", "app")
}
