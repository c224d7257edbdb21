package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-engine/berth/internal/netnstest"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
)

// Every link the tests create is named with this prefix and lives only in
// scratch namespaces; checkHostUntouched verifies the real host has none.
const testPrefix = "bt"

func checkHostUntouched(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		links, err := netlink.LinkList()
		if err != nil {
			t.Error(err)
			return
		}
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, testPrefix) {
				t.Errorf("link %s (%s) in the host namespace", l.Attrs().Name, l.Type())
			}
		}
	})
}

func links(t *testing.T, h *netlink.Handle, typ string) []string {
	t.Helper()
	ls, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		if l.Type() == typ {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

func addrsOf(t *testing.T, h *netlink.Handle, l netlink.Link) []string {
	t.Helper()
	as, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return out
}

func TestEnsureBridge(t *testing.T) {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	host := netnstest.New(t)
	const name = testPrefix + "br0"
	gw := netip.MustParsePrefix("10.99.0.1/24")

	for range 2 { // idempotent
		if err := EnsureBridge(host.Link, name, gw, 1400); err != nil {
			t.Fatal(err)
		}
	}
	br, err := host.Link.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if br.Type() != "bridge" || br.Attrs().MTU != 1400 || br.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("bridge %s: type %s mtu %d flags %v", name, br.Type(), br.Attrs().MTU, br.Attrs().Flags)
	}
	if a := addrsOf(t, host.Link, br); len(a) != 1 || a[0] != "10.99.0.1/24" {
		t.Fatalf("bridge addresses %v", a)
	}
	if mac := br.Attrs().HardwareAddr; len(mac) != 6 || mac[0]&0x03 != 0x02 {
		t.Fatalf("bridge MAC %s is not locally administered unicast", mac)
	}

	// Another address on the existing bridge is refused, naming both.
	err = EnsureBridge(host.Link, name, netip.MustParsePrefix("10.98.0.1/24"), 0)
	if !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "10.99.0.1/24") {
		t.Fatalf("other address: %v", err)
	}
	// A non-bridge of that name is refused, and neither deleted.
	la := netlink.NewLinkAttrs()
	la.Name = testPrefix + "veth0"
	if err := host.Link.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: testPrefix + "veth1", PeerTxQLen: -1}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureBridge(host.Link, la.Name, gw, 0); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("veth: %v", err)
	}
	if err := DeleteBridge(host.Link, la.Name); !cerrdefs.IsConflict(err) {
		t.Fatalf("delete veth: %v", err)
	}
	if _, err := host.Link.LinkByName(la.Name); err != nil {
		t.Fatalf("veth deleted: %v", err)
	}
	if err := EnsureBridge(host.Link, "much-too-long-name", gw, 0); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("long name: %v", err)
	}

	for range 2 { // a missing bridge is not an error
		if err := DeleteBridge(host.Link, name); err != nil {
			t.Fatal(err)
		}
	}
	if b := links(t, host.Link, "bridge"); len(b) != 0 {
		t.Fatalf("bridges left: %v", b)
	}
}

// endpoint is a "container": a namespace connected to the bridge.
type endpoint struct {
	*netnstest.NS
	hostIf string
	addr   netip.Prefix
}

func connect(t *testing.T, host *netnstest.NS, bridge string, addr string, gw netip.Addr) *endpoint {
	t.Helper()
	c := &endpoint{NS: netnstest.New(t), addr: netip.MustParsePrefix(addr)}
	var err error
	c.hostIf, err = ConnectContainer(host.Link, bridge, c.Path, EndpointOptions{
		Addr: c.addr, Gateway: gw, MTU: 1400, HostIfPrefix: testPrefix + "veth",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnectContainers(t *testing.T) {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	host := netnstest.New(t)
	const br = testPrefix + "br0"
	gw := netip.MustParseAddr("10.99.0.1")
	if err := EnsureBridge(host.Link, br, netip.PrefixFrom(gw, 24), 1400); err != nil {
		t.Fatal(err)
	}
	a := connect(t, host, br, "10.99.0.2/24", gw)
	b := connect(t, host, br, "10.99.0.3/24", gw)

	brLink, err := host.Link.LinkByName(br)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*endpoint{a, b} {
		// Host side: on the bridge, up, named with the prefix.
		hl, err := host.Link.LinkByName(c.hostIf)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.hostIf, testPrefix+"veth") || len(c.hostIf) != len(testPrefix+"veth")+7 ||
			hl.Attrs().MasterIndex != brLink.Attrs().Index || hl.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("host side %s: master %d flags %v", c.hostIf, hl.Attrs().MasterIndex, hl.Attrs().Flags)
		}
		// Container side: eth0 with address, MAC from IP, MTU, up; lo up.
		eth0, err := c.Link.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		wantMAC := MACFromIP(c.addr.Addr())
		if eth0.Attrs().MTU != 1400 || !bytes.Equal(eth0.Attrs().HardwareAddr, wantMAC) || eth0.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("eth0: mtu %d mac %s flags %v", eth0.Attrs().MTU, eth0.Attrs().HardwareAddr, eth0.Attrs().Flags)
		}
		if as := addrsOf(t, c.Link, eth0); len(as) != 1 || as[0] != c.addr.String() {
			t.Fatalf("eth0 addresses %v", as)
		}
		lo, err := c.Link.LinkByName("lo")
		if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("lo: %v %v", lo, err)
		}
		if v := links(t, c.Link, "veth"); len(v) != 1 || v[0] != "eth0" {
			t.Fatalf("container veths %v", v)
		}
		routes, err := c.Link.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var dflt []string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				dflt = append(dflt, fmt.Sprintf("%s dev %d", r.Gw, r.LinkIndex))
			}
		}
		if len(dflt) != 1 || dflt[0] != fmt.Sprintf("%s dev %d", gw, eth0.Attrs().Index) {
			t.Fatalf("default routes %v", dflt)
		}
	}
	if v := links(t, host.Link, "veth"); len(v) != 2 {
		t.Fatalf("host veths %v", v)
	}

	// Traffic: container to container over TCP, and ping (container to
	// container and to the gateway) with busybox if it is there.
	tcpReach(t, a, b)
	tcpReach(t, b, a)
	pingFrom(t, a, b.addr.Addr())
	pingFrom(t, b, gw)

	// Disconnect removes both ends; twice is fine.
	for _, c := range []*endpoint{a, b} {
		for range 2 {
			if err := DisconnectContainer(host.Link, c.hostIf); err != nil {
				t.Fatal(err)
			}
		}
		if v := links(t, c.Link, "veth"); len(v) != 0 {
			t.Fatalf("container veths left %v", v)
		}
	}
	if v := links(t, host.Link, "veth"); len(v) != 0 {
		t.Fatalf("host veths left %v", v)
	}
	if err := DeleteBridge(host.Link, br); err != nil {
		t.Fatal(err)
	}
	if b := links(t, host.Link, "bridge"); len(b) != 0 {
		t.Fatalf("bridges left %v", b)
	}
}

// tcpReach listens in to's namespace on its address and connects from from's.
func tcpReach(t *testing.T, from, to *endpoint) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.addr.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	var got []byte
	err := from.Do(func() error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil || string(got) != "hi" {
		t.Fatalf("%s -> %s: %q %v", from.addr, ln.Addr(), got, err)
	}
}

func pingFrom(t *testing.T, from *endpoint, to netip.Addr) {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Log("no /bin/busybox (busybox-static): ping skipped")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+from.Path, "/bin/busybox", "ping", "-c1", "-W2", to.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", to, from.addr, err, out)
	}
}

// An --internal network: no gateway, no default route.
func TestConnectWithoutGateway(t *testing.T) {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	host := netnstest.New(t)
	const br = testPrefix + "br1"
	if err := EnsureBridge(host.Link, br, netip.MustParsePrefix("10.97.0.1/24"), 0); err != nil {
		t.Fatal(err)
	}
	c := connect(t, host, br, "10.97.0.2/24", netip.Addr{})
	routes, err := c.Link.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Gw != nil {
			t.Fatalf("unexpected route %s", r)
		}
	}
	eth0, err := c.Link.LinkByName("eth0")
	if err != nil || eth0.Attrs().MTU != 1400 {
		t.Fatalf("eth0 %v %v", eth0, err)
	}
}

// Failures leave nothing behind.
func TestConnectUndo(t *testing.T) {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	host := netnstest.New(t)
	const br = testPrefix + "br2"
	gw := netip.MustParseAddr("10.96.0.1")
	if err := EnsureBridge(host.Link, br, netip.PrefixFrom(gw, 24), 0); err != nil {
		t.Fatal(err)
	}
	c := connect(t, host, br, "10.96.0.2/24", gw)
	opts := EndpointOptions{Addr: netip.MustParsePrefix("10.96.0.3/24"), Gateway: gw, HostIfPrefix: testPrefix + "veth"}

	// The name is taken in the container.
	if _, err := ConnectContainer(host.Link, br, c.Path, opts); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "eth0 already exists") {
		t.Fatalf("eth0 twice: %v", err)
	}
	// A gateway the address cannot reach: fails after the pair exists.
	bad := opts
	bad.IfName = "eth1"
	bad.Gateway = netip.MustParseAddr("192.0.2.1")
	if _, err := ConnectContainer(host.Link, br, c.Path, bad); err == nil || !strings.Contains(err.Error(), "default route") {
		t.Fatalf("unreachable gateway: %v", err)
	}
	if l, err := c.Link.LinkByName("eth1"); err == nil {
		t.Fatalf("eth1 left in the container: %+v; host veths %v", l.Attrs(), links(t, host.Link, "veth"))
	}
	// No such namespace, no such bridge, bad arguments.
	if _, err := ConnectContainer(host.Link, br, "/proc/self/ns/nope", opts); err == nil {
		t.Fatal("bad namespace path accepted")
	}
	if _, err := ConnectContainer(host.Link, testPrefix+"nobr", c.Path, opts); !cerrdefs.IsNotFound(err) {
		t.Fatalf("missing bridge: %v", err)
	}
	if _, err := ConnectContainer(host.Link, br, c.Path, EndpointOptions{IfName: "eth1"}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("no address: %v", err)
	}
	if _, err := ConnectContainer(host.Link, br, c.Path, EndpointOptions{Addr: opts.Addr, HostIfPrefix: "waytoolong"}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("long prefix: %v", err)
	}
	if v := links(t, host.Link, "veth"); len(v) != 1 || v[0] != c.hostIf {
		t.Fatalf("host veths %v, want only %s", v, c.hostIf)
	}
	if v := links(t, c.Link, "veth"); len(v) != 1 {
		t.Fatalf("container veths %v", v)
	}

	// A container that exits takes its pair with it: disconnect finds nothing.
	c.Link.Close()
	c.Handle.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(links(t, host.Link, "veth")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("host veths %v after the namespace died", links(t, host.Link, "veth"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := DisconnectContainer(host.Link, c.hostIf); err != nil {
		t.Fatal(err)
	}
}

func TestHairpin(t *testing.T) {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	host := netnstest.New(t)
	const br = testPrefix + "br3"
	if err := EnsureBridge(host.Link, br, netip.MustParsePrefix("10.95.0.1/24"), 0); err != nil {
		t.Fatal(err)
	}
	c := netnstest.New(t)
	hostIf, err := ConnectContainer(host.Link, br, c.Path, EndpointOptions{Addr: netip.MustParsePrefix("10.95.0.2/24"), Hairpin: true, HostIfPrefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	l, err := host.Link.LinkByName(hostIf)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := host.Link.LinkGetProtinfo(l); err != nil || !p.Hairpin {
		t.Fatalf("hairpin not set: %+v %v", p, err)
	}
}

// EnableForwarding acts on the calling thread's namespace: run in a scratch
// one, it turns forwarding on there and leaves the host's setting alone.
func TestEnableForwarding(t *testing.T) {
	netnstest.NeedRoot(t)
	before, err := os.ReadFile(ipForwardPath)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		after, _ := os.ReadFile(ipForwardPath)
		if !bytes.Equal(before, after) {
			_ = os.WriteFile(ipForwardPath, before, 0o644)
			t.Errorf("host ip_forward changed from %q to %q (restored)", before, after)
		}
	})
	s := netnstest.New(t)
	var got []byte
	if err := s.Do(func() error {
		if err := EnableForwarding(); err != nil {
			return err
		}
		if err := EnableForwarding(); err != nil { // already on
			return err
		}
		got, err = os.ReadFile(ipForwardPath)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != "1" {
		t.Fatalf("ip_forward in scratch namespace %q", got)
	}
}

// The cost that container start pays on the default bridge.
func BenchmarkConnectDisconnect(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces)")
	}
	checkHostUntouched(b)
	host, c := netnstest.New(b), netnstest.New(b)
	const br = testPrefix + "bench0"
	if err := EnsureBridge(host.Link, br, netip.MustParsePrefix("10.94.0.1/16"), 0); err != nil {
		b.Fatal(err)
	}
	opts := EndpointOptions{Addr: netip.MustParsePrefix("10.94.0.2/16"), Gateway: netip.MustParseAddr("10.94.0.1"), HostIfPrefix: testPrefix}
	for b.Loop() {
		hostIf, err := ConnectContainer(host.Link, br, c.Path, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := DisconnectContainer(host.Link, hostIf); err != nil {
			b.Fatal(err)
		}
	}
}
