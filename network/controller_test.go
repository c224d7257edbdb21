package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/nftables"
	mdns "github.com/miekg/dns"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/vishvananda/netlink"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/internal/netnstest"
	"github.com/berth-engine/berth/network/firewall"
	"github.com/berth-engine/berth/network/ipam"
	"github.com/berth-engine/berth/network/portmap"
)

// env is a test's "host": a scratch namespace the Controller programs and
// the data root it keeps its dbs in.
type env struct {
	host *netnstest.NS
	root string
}

func newEnv(t *testing.T) *env {
	netnstest.NeedRoot(t)
	checkHostUntouched(t)
	return &env{host: netnstest.New(t), root: filepath.Join(t.TempDir(), "network")}
}

func (e *env) config(t testing.TB) Config {
	return Config{Root: e.root, Netns: e.host.Handle, ICC: true, Log: testLog(t)}
}

// open makes a Controller closed at the end of the test (a second Close, if
// the test closed it, is harmless).
func (e *env) open(t testing.TB) *Controller {
	t.Helper()
	c, err := New(e.config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// berthTable reports whether the berth nftables table exists in ns.
func berthTable(t testing.TB, s *netnstest.NS) bool {
	t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(int(s.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == firewall.TableName {
			return true
		}
	}
	return false
}

func bridgeAddrs(t testing.TB, s *netnstest.NS, name string) []netip.Prefix {
	t.Helper()
	link, err := s.Link.LinkByName(name)
	if err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	addrs, err := s.Link.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	return out
}

func TestNewDefaultBridgeAvoidsHostPrefixes(t *testing.T) {
	e := newEnv(t)
	// The "host" already uses 172.17.0.0/16 (as Docker's docker0 would)
	// and routes 172.18.0.0/16 somewhere.
	la := netlink.NewLinkAttrs()
	la.Name = "lan0" // a bridge: the dummy driver may not be built
	dummy := &netlink.Bridge{LinkAttrs: la}
	if err := e.host.Link.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr("172.17.0.1/16")
	if err := e.host.Link.AddrAdd(dummy, addr); err != nil {
		t.Fatal(err)
	}
	if err := e.host.Link.LinkSetUp(dummy); err != nil {
		t.Fatal(err)
	}
	_, dst, _ := net.ParseCIDR("172.18.0.0/16")
	if err := e.host.Link.RouteAdd(&netlink.Route{LinkIndex: dummy.Attrs().Index, Dst: dst, Gw: net.ParseIP("172.17.0.254")}); err != nil {
		t.Fatal(err)
	}

	c := e.open(t)
	br, err := c.Network("bridge")
	if err != nil {
		t.Fatal(err)
	}
	if br.Subnet != netip.MustParsePrefix("172.19.0.0/16") || br.Gateway != netip.MustParseAddr("172.19.0.1") || br.Bridge != "berth0" {
		t.Fatalf("default bridge %+v, want 172.19.0.0/16 via 172.19.0.1 on berth0", br)
	}
	if got := bridgeAddrs(t, e.host, "berth0"); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("172.19.0.1/16")}) {
		t.Fatalf("berth0 addresses %v", got)
	}
	var names []string
	for _, n := range c.Networks() {
		names = append(names, n.Name+"/"+n.Driver)
	}
	if want := []string{"bridge/bridge", "host/host", "none/null"}; !slices.Equal(names, want) {
		t.Fatalf("networks %v, want %v", names, want)
	}
	if !berthTable(t, e.host) {
		t.Fatal("no berth nftables table after New")
	}
	ids := map[string]string{}
	for _, n := range c.Networks() {
		ids[n.Name] = n.ID
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if berthTable(t, e.host) {
		t.Fatal("berth nftables table left after Close")
	}
	if !slices.Contains(links(t, e.host), "berth0") {
		t.Fatal("Close removed berth0; it should stay as docker0 does")
	}

	// Again: same IDs, same subnet (berth0's own address is not avoided).
	c = e.open(t)
	for _, n := range c.Networks() {
		if ids[n.Name] != n.ID {
			t.Fatalf("network %s changed ID across restarts", n.Name)
		}
	}
	if br2, _ := c.Network("bridge"); br2.Subnet != br.Subnet {
		t.Fatalf("default bridge moved from %s to %s", br.Subnet, br2.Subnet)
	}
}

func TestBIPAndBridgeNone(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(t)
	cfg.BIP = netip.MustParsePrefix("10.99.0.1/24")
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	br, _ := c.Network("bridge")
	if br.Subnet != netip.MustParsePrefix("10.99.0.0/24") || br.Gateway != netip.MustParseAddr("10.99.0.1") {
		t.Fatalf("bridge %s via %s, want --bip 10.99.0.1/24", br.Subnet, br.Gateway)
	}
	c.Close()

	// A new --bip readdresses the bridge (no container uses it).
	cfg.BIP = netip.MustParsePrefix("10.98.0.1/24")
	if c, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	br2, _ := c.Network("bridge")
	if br2.ID != br.ID || br2.Subnet != netip.MustParsePrefix("10.98.0.0/24") {
		t.Fatalf("after --bip change: %+v", br2)
	}
	if got := bridgeAddrs(t, e.host, "berth0"); !slices.Equal(got, []netip.Prefix{cfg.BIP}) {
		t.Fatalf("berth0 addresses %v", got)
	}
	c.Close()

	cfg = e.config(t)
	cfg.DefaultBridge = "none"
	c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Network("bridge"); !errors.Is(err, ErrNoSuchNetwork) {
		t.Fatalf("--bridge none: network bridge: %v", err)
	}
	if _, err := c.Network("host"); err != nil {
		t.Fatal(err)
	}
}

func TestUserNetworks(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)

	n, err := c.CreateNetwork(CreateOptions{Name: "front", Labels: map[string]string{"team": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Driver != "bridge" || n.Bridge != "br-"+n.ID[:12] || !n.Subnet.IsValid() || n.Labels["team"] != "web" || !n.ICC {
		t.Fatalf("created %+v", n)
	}
	if !slices.Contains(links(t, e.host), n.Bridge) {
		t.Fatalf("bridge %s not created: %v", n.Bridge, links(t, e.host))
	}
	back, err := c.CreateNetwork(CreateOptions{Name: "back", Subnet: netip.MustParsePrefix("10.10.0.0/24"),
		IPRange: netip.MustParsePrefix("10.10.0.128/25"), Gateway: netip.MustParseAddr("10.10.0.254"), Internal: true,
		Options: map[string]string{OptBridgeName: "back0", OptICC: "false", OptMTU: "1400"}})
	if err != nil {
		t.Fatal(err)
	}
	if back.Bridge != "back0" || back.ICC || back.MTU != 1400 || !back.Internal || back.Gateway != netip.MustParseAddr("10.10.0.254") {
		t.Fatalf("created %+v", back)
	}
	// Options are the -o options as given, as Docker shows them: none for
	// front (its generated bridge name is not one of them).
	if len(n.Options) != 0 {
		t.Errorf("front's Options %v, want none", n.Options)
	}
	if want := map[string]string{OptBridgeName: "back0", OptICC: "false", OptMTU: "1400"}; !maps.Equal(back.Options, want) {
		t.Errorf("back's Options %v, want %v", back.Options, want)
	}
	if got := bridgeAddrs(t, e.host, "back0"); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.10.0.254/24")}) {
		t.Fatalf("back0 addresses %v", got)
	}

	for _, tc := range []struct {
		req   CreateOptions
		class func(error) bool
		msg   string
	}{
		{CreateOptions{Name: "front"}, cerrdefs.IsConflict, "network with name front already exists"},
		{CreateOptions{Name: "x", Subnet: netip.MustParsePrefix("10.10.0.0/16")}, cerrdefs.IsConflict, "Pool overlaps with other one on this address space"},
		{CreateOptions{Name: "x", Options: map[string]string{OptMTU: "abc"}}, cerrdefs.IsInvalidArgument, `invalid value "abc" for option com.docker.network.driver.mtu`},
		{CreateOptions{Name: "x", Options: map[string]string{OptICC: "maybe"}}, cerrdefs.IsInvalidArgument, "enable_icc"},
		{CreateOptions{Name: "x", Options: map[string]string{OptBridgeName: "back0"}}, cerrdefs.IsConflict, "bridge name back0 is already in use by network back"},
		{CreateOptions{Name: "x", Gateway: netip.MustParseAddr("10.1.1.1")}, cerrdefs.IsInvalidArgument, "need a subnet"},
		{CreateOptions{Name: "x", Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.21.0.1")}, cerrdefs.IsInvalidArgument, "not a host address"},
		{CreateOptions{Name: "x", Driver: "host"}, cerrdefs.IsPermissionDenied, `only one instance of "host" network is allowed`},
		{CreateOptions{Name: "x", Driver: "overlay"}, cerrdefs.IsNotFound, "plugin not found"},
		{CreateOptions{Name: "bridge"}, cerrdefs.IsPermissionDenied, "pre-defined"},
	} {
		_, err := c.CreateNetwork(tc.req)
		if err == nil || !tc.class(err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("create %+v: %v, want %q", tc.req, err, tc.msg)
		}
	}
	// None of the failures left anything behind.
	if got := len(c.Networks()); got != 5 {
		t.Fatalf("%d networks after failed creates, want 5", got)
	}
	if _, err := c.Network("x"); !cerrdefs.IsNotFound(err) || err.Error() != "network x not found" {
		t.Fatalf("lookup x: %v", err)
	}
	if got, err := c.Network(n.ID[:8]); err != nil || got.Name != "front" {
		t.Fatalf("lookup by ID prefix: %v %v", got.Name, err)
	}

	for _, name := range []string{"bridge", "host", "none"} {
		err := c.RemoveNetwork(name)
		if !cerrdefs.IsPermissionDenied(err) || err.Error() != name+" is a pre-defined network and cannot be removed" {
			t.Errorf("remove %s: %v", name, err)
		}
	}
	if err := c.RemoveNetwork("front"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(links(t, e.host), n.Bridge) {
		t.Fatalf("bridge %s left after remove", n.Bridge)
	}
	if _, err := c.Network("front"); !errors.Is(err, ErrNoSuchNetwork) {
		t.Fatalf("front after remove: %v", err)
	}
	// Its subnet is free again.
	again, err := c.CreateNetwork(CreateOptions{Name: "front2", Subnet: n.Subnet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNetwork(again.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNetwork("nope"); !cerrdefs.IsNotFound(err) {
		t.Fatalf("remove nope: %v", err)
	}
}

// container is a test "container": a scratch namespace.
func connect(t *testing.T, c *Controller, network, id, name string, ns *netnstest.NS, extra ...func(*EndpointConfig)) Endpoint {
	t.Helper()
	cfg := EndpointConfig{ContainerID: id, Name: name, NsPath: ns.Path}
	for _, f := range extra {
		f(&cfg)
	}
	ep, err := c.Connect(context.Background(), network, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func cid(n int) string {
	sum := sha256.Sum256([]byte{byte(n)})
	return hex.EncodeToString(sum[:])
}

func TestConnectTwoContainers(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	if _, err := c.CreateNetwork(CreateOptions{Name: "app", Subnet: netip.MustParsePrefix("10.60.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	ns1, ns2 := netnstest.New(t), netnstest.New(t)
	linksBefore := links(t, e.host)

	ep1 := connect(t, c, "app", cid(1), "web", ns1, func(cfg *EndpointConfig) { cfg.Aliases = []string{"frontend"} })
	ep2 := connect(t, c, "app", cid(2), "db", ns2)
	if ep1.IP.Addr() == ep2.IP.Addr() || !ep1.IP.IsValid() || ep1.IfName != "eth0" || ep1.HostIf == "" || ep1.MAC == "" {
		t.Fatalf("endpoints %+v %+v", ep1, ep2)
	}
	if _, err := c.Connect(context.Background(), "app", EndpointConfig{ContainerID: cid(1), Name: "web", NsPath: ns1.Path}); !cerrdefs.IsPermissionDenied(err) {
		t.Fatalf("second connect: %v", err)
	}

	// The containers reach each other over the bridge.
	listenIn(t, ns2, net.JoinHostPort(ep2.IP.Addr().String(), "8080"), "hello from db")
	if got, err := dialFrom(ns1, net.JoinHostPort(ep2.IP.Addr().String(), "8080")); err != nil || got != "hello from db" {
		t.Fatalf("web -> db: %q %v", got, err)
	}

	tb := c.Table()
	for name, want := range map[string]netip.Addr{"web": ep1.IP.Addr(), "frontend": ep1.IP.Addr(), "db": ep2.IP.Addr(), cid(2)[:12]: ep2.IP.Addr()} {
		if got := tb.Lookup([]string{"app"}, name); !slices.Equal(got, []netip.Addr{want}) {
			t.Errorf("DNS %s: %v, want %s", name, got, want)
		}
	}
	if eps := c.Endpoints(cid(1)); len(eps) != 1 || eps[0].NetworkName != "app" {
		t.Fatalf("Endpoints: %+v", eps)
	}
	if err := c.RemoveNetwork("app"); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "has active endpoints") {
		t.Fatalf("remove with endpoints: %v", err)
	}

	// --ip needs a user-configured subnet.
	if _, err := c.CreateNetwork(CreateOptions{Name: "auto"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect(context.Background(), "auto", EndpointConfig{ContainerID: cid(1), Name: "web", NsPath: ns1.Path, StaticIP: netip.MustParseAddr("172.18.0.9")}); !cerrdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "user configured subnets") {
		t.Fatalf("--ip on a network without a subnet: %v", err)
	}
	if err := c.RemoveNetwork("auto"); err != nil {
		t.Fatal(err)
	}

	// The default bridge: a second interface, no DNS, no --ip.
	if _, err := c.Connect(context.Background(), "bridge", EndpointConfig{ContainerID: cid(1), Name: "web", NsPath: ns1.Path, StaticIP: netip.MustParseAddr("172.17.0.9")}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("--ip on bridge: %v", err)
	}
	epb := connect(t, c, "bridge", cid(1), "web", ns1)
	if epb.IfName != "eth1" {
		t.Fatalf("second interface named %s", epb.IfName)
	}
	if got := c.UserNetworks(cid(1)); !slices.Equal(got, []string{"app"}) {
		t.Fatalf("user networks %v", got)
	}

	// A static address that is taken fails and leaves nothing.
	ns3 := netnstest.New(t)
	_, err := c.Connect(context.Background(), "app", EndpointConfig{ContainerID: cid(3), Name: "x", NsPath: ns3.Path, StaticIP: ep2.IP.Addr()})
	if !errors.Is(err, ipam.ErrAddressInUse) {
		t.Fatalf("taken --ip: %v", err)
	}
	if len(c.Endpoints(cid(3))) != 0 || slices.Contains(links(t, ns3), "eth0") {
		t.Fatal("failed connect left an endpoint")
	}

	for _, step := range []struct{ net, id string }{{"app", cid(1)}, {"app", cid(2)}, {"bridge", cid(1)}} {
		if err := c.Disconnect(context.Background(), step.net, step.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Disconnect(context.Background(), "app", cid(1)); !cerrdefs.IsNotFound(err) {
		t.Fatalf("second disconnect: %v", err)
	}
	if got := links(t, e.host); !slices.Equal(got, linksBefore) {
		t.Fatalf("host links %v after disconnect, want %v", got, linksBefore)
	}
	if got := links(t, ns1); !slices.Equal(got, []string{"lo"}) {
		t.Fatalf("container links %v after disconnect", got)
	}
	if got := tb.Lookup([]string{"app"}, "web"); got != nil {
		t.Fatalf("DNS web after disconnect: %v", got)
	}
	// Both addresses are free: ask for them statically.
	connect(t, c, "app", cid(4), "y", ns3, func(cfg *EndpointConfig) { cfg.StaticIP = ep1.IP.Addr() })
	if err := c.Disconnect(context.Background(), "app", cid(4)); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNetwork("app"); err != nil {
		t.Fatal(err)
	}
}

func TestDisconnectAfterNamespaceGone(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	ns := netnstest.New(t)
	ep := connect(t, c, "bridge", cid(1), "gone", ns)
	ns.Handle.Close() // the container exited: the kernel deletes the veth pair
	if err := c.Disconnect(context.Background(), "bridge", cid(1)); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(links(t, e.host), ep.HostIf) {
		t.Fatalf("%s left", ep.HostIf)
	}
}

func TestHostAndNoneNetworks(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	linksBefore := links(t, e.host)
	for _, name := range []string{"host", "none"} {
		ep, err := c.Connect(context.Background(), name, EndpointConfig{ContainerID: cid(1), Name: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if ep.IP.IsValid() || ep.HostIf != "" {
			t.Fatalf("%s endpoint has plumbing: %+v", name, ep)
		}
	}
	if got := links(t, e.host); !slices.Equal(got, linksBefore) {
		t.Fatalf("links %v", got)
	}
	if len(c.Endpoints(cid(1))) != 2 {
		t.Fatal("endpoints not recorded")
	}
	for _, name := range []string{"host", "none"} {
		if err := c.Disconnect(context.Background(), name, cid(1)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestartKeepsNetworksAndEndpoints(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	app, err := c.CreateNetwork(CreateOptions{Name: "app", Subnet: netip.MustParsePrefix("10.61.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	ns1, ns2 := netnstest.New(t), netnstest.New(t)
	ep1 := connect(t, c, "app", cid(1), "web", ns1)
	ep2 := connect(t, c, "app", cid(2), "db", ns2)
	listenIn(t, ns2, net.JoinHostPort(ep2.IP.Addr().String(), "8080"), "still here")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNetwork(CreateOptions{Name: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}

	// A crash between Allocate and the endpoint's record leaked an address.
	st, err := ipam.Open(filepath.Join(e.root, "ipam.db"))
	if err != nil {
		t.Fatal(err)
	}
	ghost, err := st.Allocate(app.ID, "ghost", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	c = e.open(t)
	app2, err := c.Network("app")
	if err != nil || app2.ID != app.ID || app2.Subnet != app.Subnet {
		t.Fatalf("app after restart: %+v %v", app2, err)
	}
	eps := c.Endpoints(cid(1))
	if len(eps) != 1 || eps[0].IP != ep1.IP || eps[0].HostIf != ep1.HostIf {
		t.Fatalf("endpoints after restart: %+v", eps)
	}
	if got := c.Table().Lookup([]string{"app"}, "db"); !slices.Equal(got, []netip.Addr{ep2.IP.Addr()}) {
		t.Fatalf("DNS db after restart: %v", got)
	}
	// The containers kept their networking (live restore).
	if got, err := dialFrom(ns1, net.JoinHostPort(ep2.IP.Addr().String(), "8080")); err != nil || got != "still here" {
		t.Fatalf("web -> db after restart: %q %v", got, err)
	}
	// The leaked address was released: it can be had statically.
	ns3 := netnstest.New(t)
	connect(t, c, "app", cid(3), "z", ns3, func(cfg *EndpointConfig) { cfg.StaticIP = ghost })

	// The daemon says container 2 is gone.
	alive := func(id string) bool { return id != cid(2) }
	if err := c.Reconcile(context.Background(), alive); err != nil {
		t.Fatal(err)
	}
	if len(c.Endpoints(cid(2))) != 0 || c.Table().Lookup([]string{"app"}, "db") != nil {
		t.Fatal("Reconcile kept the endpoint of a gone container")
	}
	if slices.Contains(links(t, ns2), "eth0") {
		t.Fatal("Reconcile left the gone container's interface")
	}
	connect(t, c, "app", cid(4), "w", netnstest.New(t), func(cfg *EndpointConfig) { cfg.StaticIP = ep2.IP.Addr() })
}

// A user network recorded by an earlier version with its generated bridge
// name among its Options shows only the options given once restored, and
// keeps its bridge.
func TestRestoreForgetsGeneratedBridgeName(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	n, err := c.CreateNetwork(CreateOptions{Name: "old", Options: map[string]string{OptMTU: "1400"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(e.root, "networks.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := n.clone()
	old.Options[OptBridgeName] = n.Bridge
	rec, _ := json.Marshal(old)
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketV1).Bucket(bucketNetworks).Put([]byte(n.ID), rec)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	c = e.open(t)
	got, err := c.Network("old")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{OptMTU: "1400"}; !maps.Equal(got.Options, want) || got.Bridge != n.Bridge {
		t.Fatalf("restored Options %v bridge %s, want %v on %s", got.Options, got.Bridge, want, n.Bridge)
	}
	if !slices.Contains(links(t, e.host), n.Bridge) {
		t.Fatalf("bridge %s not restored", n.Bridge)
	}
	// The builtin bridge keeps Docker's set, with its bridge's name.
	br, err := c.Network(NameBridge)
	if err != nil {
		t.Fatal(err)
	}
	if br.Options[OptBridgeName] != DefaultBridgeName || br.Options[optDefault] != "true" || len(br.Options) != 6 {
		t.Fatalf("bridge's Options %v", br.Options)
	}
}

// A foreign forward chain with policy drop (Docker's iptables FORWARD DROP)
// is reported by New in one warning naming it and the bridges, and left
// as it was.
func TestNewWarnsOfForeignForwardDrop(t *testing.T) {
	e := newEnv(t)
	conn, err := nftables.New(nftables.WithNetNSFd(int(e.host.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	drop := nftables.ChainPolicyDrop
	filter := conn.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4})
	conn.AddChain(&nftables.Chain{Name: "FORWARD", Table: filter, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	cfg := e.config(t)
	cfg.Log = logrus.NewEntry(log)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var warnings []string
	for _, en := range hook.AllEntries() {
		if en.Level == logrus.WarnLevel {
			warnings = append(warnings, en.Message)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "table ip filter chain FORWARD (hook forward, policy drop)") ||
		!strings.Contains(warnings[0], "iptables -I FORWARD -i berth0 -j ACCEPT") {
		t.Fatalf("warnings: %q", warnings)
	}
	ch, err := conn.ListChain(filter, "FORWARD")
	if err != nil || ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop {
		t.Fatalf("FORWARD after New: %+v %v", ch, err)
	}
}

// TestPortMappingDNAT publishes a port in a Controller programming a scratch
// namespace (so without the userland proxy) and reaches the container
// through the host's address on the bridge, DNATed by the firewall.
func TestPortMappingDNAT(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	ns := netnstest.New(t)
	ep := connect(t, c, "bridge", cid(1), "web", ns, func(cfg *EndpointConfig) {
		cfg.Ports = []PortBinding{{Proto: "tcp", ContainerPort: 80}}
	})
	if len(ep.Ports) != 1 || ep.Ports[0].HostPort == 0 {
		t.Fatalf("ports %+v", ep.Ports)
	}
	listenIn(t, ns, ":80", "published")
	br, _ := c.Network("bridge")
	target := net.JoinHostPort(br.Gateway.String(), fmt.Sprint(ep.Ports[0].HostPort))
	if got, err := dialFrom(e.host, target); err != nil || got != "published" {
		t.Fatalf("dial %s: %q %v", target, got, err)
	}

	// A restart (live restore) publishes it again.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dialFrom(e.host, target); err == nil {
		t.Fatal("port still published after Close removed the firewall table")
	}
	c = e.open(t)
	if got, err := dialFrom(e.host, target); err != nil || got != "published" {
		t.Fatalf("dial %s after restart: %q %v", target, got, err)
	}

	if err := c.Disconnect(context.Background(), "bridge", cid(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := dialFrom(e.host, target); err == nil {
		t.Fatal("port still published after disconnect")
	}
}

// childEnv marks the re-executed test binary of TestPortMappingProxy.
const childEnv = "BERTH_NETWORK_TEST_CHILD"

// TestPortMappingProxy publishes ports on 127.0.0.1, which only the
// userland proxy serves. The proxy dials containers from the caller's
// namespace, so the test re-executes itself as a process of its own in a
// fresh network namespace (the whole process, every thread), and runs the
// Controller there on "the caller's namespace", as the daemon does.
func TestPortMappingProxy(t *testing.T) {
	netnstest.NeedRoot(t)
	if os.Getenv(childEnv) == "" {
		checkHostUntouched(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestPortMappingProxy$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child in its own network namespace: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestPortMappingProxy") {
			t.Fatalf("child did not pass:\n%s", out)
		}
		return
	}

	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Root: filepath.Join(t.TempDir(), "network"), ICC: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateNetwork(CreateOptions{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	ns := netnstest.New(t)
	loopback := netip.MustParseAddr("127.0.0.1")
	ep := connect(t, c, "app", cid(1), "web", ns, func(cfg *EndpointConfig) {
		cfg.Ports = []PortBinding{{Proto: "tcp", HostIP: loopback, ContainerPort: 80}}
	})
	if len(ep.Ports) != 1 || ep.Ports[0].HostPort == 0 {
		t.Fatalf("ports %+v", ep.Ports)
	}
	listenIn(t, ns, ":80", "through the proxy")
	target := net.JoinHostPort("127.0.0.1", fmt.Sprint(ep.Ports[0].HostPort))
	conn, err := net.DialTimeout("tcp4", target, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(conn); err != nil || got != "through the proxy" {
		t.Fatalf("curl %s: %q %v", target, got, err)
	}

	// A host port some other process holds: a clear error, nothing left.
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := uint16(taken.Addr().(*net.TCPAddr).Port)
	ns2 := netnstest.New(t)
	first := 8000 + uint16(os.Getpid()%1000) // published before the failing one, so undone
	_, err = c.Connect(context.Background(), "app", EndpointConfig{ContainerID: cid(2), Name: "other", NsPath: ns2.Path,
		Ports: []PortBinding{{Proto: "tcp", HostPort: first, ContainerPort: 81}, {Proto: "tcp", HostIP: loopback, HostPort: port, ContainerPort: 80}}})
	if err == nil || !cerrdefs.IsConflict(err) && !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("connect with a taken port: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("Bind for 127.0.0.1:%d failed", port)) {
		t.Fatalf("connect with a taken port: %v", err)
	}
	if len(c.Endpoints(cid(2))) != 0 || !slices.Equal(links(t, ns2), []string{"lo"}) {
		t.Fatal("failed connect left an endpoint")
	}
	ep2 := connect(t, c, "app", cid(2), "other", ns2, func(cfg *EndpointConfig) {
		cfg.Ports = []PortBinding{{Proto: "tcp", HostPort: first, ContainerPort: 81}}
	})
	if ep2.Ports[0].HostPort != first {
		t.Fatalf("ports %+v", ep2.Ports)
	}

	// An ephemeral port that another process binds between the
	// allocator's probe and the proxy's bind (made here by the proxy
	// failing twice as a taken port fails): publish takes the next one, and
	// the two it gave up are free again.
	start := c.startProxy
	var gaveUp []uint16
	c.startProxy = func(proto string, hostIP netip.Addr, hostPort uint16, ip netip.Addr, port uint16) (io.Closer, error) {
		if len(gaveUp) < 2 {
			gaveUp = append(gaveUp, hostPort)
			return nil, fmt.Errorf("Bind for %s:%d failed: %w", hostIP, hostPort, portmap.ErrPortInUse)
		}
		return start(proto, hostIP, hostPort, ip, port)
	}
	ns3 := netnstest.New(t)
	ep3 := connect(t, c, "app", cid(3), "retried", ns3, func(cfg *EndpointConfig) {
		cfg.Ports = []PortBinding{{Proto: "tcp", HostIP: loopback, ContainerPort: 80}}
	})
	if len(gaveUp) != 2 || len(ep3.Ports) != 1 || slices.Contains(gaveUp, ep3.Ports[0].HostPort) {
		t.Fatalf("gave up %v, published %+v", gaveUp, ep3.Ports)
	}
	listenIn(t, ns3, ":80", "on the third port")
	retried := net.JoinHostPort("127.0.0.1", fmt.Sprint(ep3.Ports[0].HostPort))
	if conn, err := net.DialTimeout("tcp4", retried, 3*time.Second); err != nil {
		t.Fatal(err)
	} else if got, err := readAll(conn); err != nil || got != "on the third port" {
		t.Fatalf("curl %s: %q %v", retried, got, err)
	}
	for _, p := range gaveUp {
		if _, err := c.ports.Allocate("tcp", loopback, p); err != nil {
			t.Errorf("port %d given up is still held: %v", p, err)
		}
		c.ports.Release("tcp", loopback, p)
	}
	// So does a binding with a range of host ports.
	gaveUp = nil
	ep5 := connect(t, c, "app", cid(5), "ranged", netnstest.New(t), func(cfg *EndpointConfig) {
		cfg.Ports = []PortBinding{{Proto: "tcp", HostIP: loopback, HostPort: first + 2, HostPortEnd: first + 5, ContainerPort: 80}}
	})
	if p := ep5.Ports[0].HostPort; len(gaveUp) != 2 || p < first+2 || p > first+5 {
		t.Fatalf("a range after two taken ports: gave up %v, published %+v", gaveUp, ep5.Ports)
	}
	// A host port asked for is not swapped for another.
	gaveUp = nil
	_, err = c.Connect(context.Background(), "app", EndpointConfig{ContainerID: cid(4), Name: "fixed", NsPath: netnstest.New(t).Path,
		Ports: []PortBinding{{Proto: "tcp", HostIP: loopback, HostPort: first + 1, ContainerPort: 80}}})
	if !errors.Is(err, portmap.ErrPortInUse) || len(gaveUp) != 1 {
		t.Fatalf("a fixed port the proxy cannot bind: %v after %d tries", err, len(gaveUp))
	}
	c.startProxy = start

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp4", target, time.Second); err == nil {
		conn.Close()
		t.Fatal("proxy still listening after Close")
	}
}

func TestStartResolver(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	for _, name := range []string{"front", "back"} {
		if _, err := c.CreateNetwork(CreateOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	ns1, ns2, ns3 := netnstest.New(t), netnstest.New(t), netnstest.New(t)
	connect(t, c, "front", cid(1), "web", ns1)
	db := connect(t, c, "front", cid(2), "db", ns2)
	cache := connect(t, c, "back", cid(3), "cache", ns3)

	r, err := c.StartResolver(cid(1), ns1.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := c.StartResolver(cid(1), ns1.Path, nil); !cerrdefs.IsConflict(err) {
		t.Fatalf("second resolver: %v", err)
	}
	query := func(name string) []netip.Addr {
		t.Helper()
		var conn net.Conn
		if err := ns1.Do(func() (err error) {
			conn, err = net.Dial("udp4", ResolverAddr.String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		dc := &mdns.Conn{Conn: conn}
		q := new(mdns.Msg)
		q.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
		if err := dc.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		resp, err := dc.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		var out []netip.Addr
		for _, rr := range resp.Answer {
			if a, ok := rr.(*mdns.A); ok {
				ip, _ := netip.AddrFromSlice(a.A.To4())
				out = append(out, ip)
			}
		}
		return out
	}
	if got := query("db"); !slices.Equal(got, []netip.Addr{db.IP.Addr()}) {
		t.Fatalf("db: %v, want %s", got, db.IP.Addr())
	}
	if got := query("cache"); got != nil {
		t.Fatalf("cache from a container not on back: %v", got)
	}
	// network connect while running: the resolver follows.
	connect(t, c, "back", cid(1), "web", ns1)
	if got := query("cache"); !slices.Equal(got, []netip.Addr{cache.IP.Addr()}) {
		t.Fatalf("cache after connect: %v", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The address is free again: a new resolver can start.
	r2, err := c.StartResolver(cid(1), ns1.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
}

func TestConcurrentConnects(t *testing.T) {
	e := newEnv(t)
	c := e.open(t)
	if _, err := c.CreateNetwork(CreateOptions{Name: "busy", Subnet: netip.MustParsePrefix("10.50.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	nss := make([]*netnstest.NS, n)
	for i := range nss {
		nss[i] = netnstest.New(t)
	}
	eps := make([]Endpoint, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var err error
			eps[i], err = c.Connect(context.Background(), "busy", EndpointConfig{ContainerID: cid(i), Name: fmt.Sprint("c", i), NsPath: nss[i].Path})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[netip.Addr]bool{}
	for _, ep := range eps {
		if seen[ep.IP.Addr()] {
			t.Fatalf("address %s handed out twice", ep.IP.Addr())
		}
		seen[ep.IP.Addr()] = true
	}
	for i := range n {
		go func() { errs <- c.Disconnect(context.Background(), "busy", cid(i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveNetwork("busy"); err != nil {
		t.Fatal(err)
	}
}
