package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berth-engine/berth/internal/netnstest"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNS creates a scratch network namespace, returned as an fd, and destroys
// it (with every table in it) when the test ends. The host's ruleset is never
// touched.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	netnstest.NeedRoot(t)
	return netnstest.New(t).Handle
}

func newFirewall(t *testing.T, ns netns.NsHandle) *Firewall {
	t.Helper()
	f, err := New(WithNetNS(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func nsConn(t *testing.T, ns netns.NsHandle) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ruleset reads the berth table back through the library: for every chain,
// the comments of its rules in order ("-" for the fixed, untagged ones). It
// returns nil when the table does not exist.
func ruleset(t *testing.T, ns netns.NsHandle) map[string][]string {
	t.Helper()
	c := nsConn(t, ns)
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var table *nftables.Table
	for _, tb := range tables {
		if tb.Name == TableName {
			table = tb
		}
	}
	if table == nil {
		return nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			t.Fatal(err)
		}
		out[ch.Name] = []string{}
		for _, r := range rules {
			tag, ok := userdata.GetString(r.UserData, userdata.TypeComment)
			if !ok {
				tag = "-"
			}
			out[ch.Name] = append(out[ch.Name], tag)
		}
	}
	return out
}

// fixed is the ruleset of a fresh table.
func fixed() map[string][]string {
	return map[string][]string{
		chainPrerouting: {"-"}, chainOutput: {"-"}, chainPostrouting: {},
		chainForward: {"-", "-", "-"},
		chainDNAT:    {}, chainIsolation1: {}, chainIsolation2: {}, chainPorts: {}, chainBridges: {},
	}
}

func equalRules(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// nftList prints the berth table with nft(8) inside the namespace.
func nftList(t *testing.T, ns netns.NsHandle) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("nsenter not installed")
	}
	// A dup, so that the *os.File (and its finalizer) owns its own fd.
	fd, err := unix.Dup(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "netns")
	defer f.Close()
	cmd := exec.Command("nsenter", "--net=/proc/self/fd/3", "nft", "list", "table", "ip", TableName)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return string(out)
}

var (
	bridgeNet = Network{
		Name: "bridge", Bridge: "berth0", Subnet: netip.MustParsePrefix("172.18.0.0/16"),
		ICC: true, Masquerade: true,
	}
	web = Mapping{
		Proto: "tcp", HostPort: 8080,
		ContainerIP: netip.MustParseAddr("172.18.0.2"), ContainerPort: 80, Bridge: "berth0",
	}
)

const golden = `table ip berth {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump dnat
	}

	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump dnat
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "berth0" ip saddr 172.18.0.0/16 ct status dnat masquerade comment "net:bridge"
		ip saddr 172.18.0.0/16 oifname != "berth0" masquerade comment "net:bridge"
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		jump isolation-1
		jump ports
		jump bridges
	}

	chain dnat {
		tcp dport 8080 dnat to 172.18.0.2:80 comment "port:tcp:0.0.0.0:8080:172.18.0.2:80"
	}

	chain isolation-1 {
		iifname "berth0" oifname != "berth0" jump isolation-2 comment "net:bridge"
	}

	chain isolation-2 {
		oifname "berth0" drop comment "net:bridge"
	}

	chain ports {
		iifname != "berth0" oifname "berth0" ip daddr 172.18.0.2 tcp dport 80 accept comment "port:tcp:0.0.0.0:8080:172.18.0.2:80"
	}

	chain bridges {
		oifname "berth0" ct state established,related accept comment "net:bridge"
		iifname != "berth0" oifname "berth0" drop comment "net:bridge"
	}
}
`

// TestGolden checks the table as nft(8) prints it for one network with one
// published port, then that removing them leaves the fresh table.
func TestGolden(t *testing.T) {
	ns := newNS(t)
	f := newFirewall(t, ns)
	if err := f.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPortMapping(web); err != nil {
		t.Fatal(err)
	}
	if got := nftList(t, ns); got != golden {
		t.Fatalf("nft list table ip berth:\n%s\nwant:\n%s", got, golden)
	}
	if err := f.RemovePortMapping(web); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveNetwork("bridge"); err != nil {
		t.Fatal(err)
	}
	equalRules(t, "after removal", ruleset(t, ns), fixed())
}

func TestNetworksAndMappings(t *testing.T) {
	ns := newNS(t)
	f := newFirewall(t, ns)
	equalRules(t, "fresh table", ruleset(t, ns), fixed())

	internal := Network{Name: "secret", Bridge: "br-secret", Subnet: netip.MustParsePrefix("10.99.0.0/24"), Internal: true}
	noICC := Network{Name: "quiet", Bridge: "br-quiet", Subnet: netip.MustParsePrefix("10.98.0.0/24"), Masquerade: true}
	for _, n := range []Network{bridgeNet, internal, noICC} {
		if err := f.AddNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	dns := Mapping{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353,
		ContainerIP: netip.MustParseAddr("10.98.0.3"), ContainerPort: 53, Bridge: "br-quiet"}
	for _, m := range []Mapping{web, dns} {
		if err := f.AddPortMapping(m); err != nil {
			t.Fatal(err)
		}
	}
	const (
		b    = "net:bridge"
		s    = "net:secret"
		q    = "net:quiet"
		pWeb = "port:tcp:0.0.0.0:8080:172.18.0.2:80"
		pDNS = "port:udp:127.0.0.1:5353:10.98.0.3:53"
	)
	want := fixed()
	want[chainPostrouting] = []string{b, b, q, q}
	want[chainIsolation1] = []string{b, s, s, s, q}
	want[chainIsolation2] = []string{b, s, q}
	want[chainBridges] = []string{b, b, s, s, q, q, q}
	want[chainDNAT] = []string{pWeb, pDNS}
	want[chainPorts] = []string{pWeb, pDNS}
	equalRules(t, "three networks, two mappings", ruleset(t, ns), want)

	// Removing one mapping leaves the other's rules alone.
	if err := f.RemovePortMapping(web); err != nil {
		t.Fatal(err)
	}
	want[chainDNAT] = []string{pDNS}
	want[chainPorts] = []string{pDNS}
	equalRules(t, "after removing a mapping", ruleset(t, ns), want)

	// Removing a network leaves the others'.
	if err := f.RemoveNetwork("secret"); err != nil {
		t.Fatal(err)
	}
	want[chainIsolation1] = []string{b, q}
	want[chainIsolation2] = []string{b, q}
	want[chainBridges] = []string{b, b, q, q, q}
	equalRules(t, "after removing a network", ruleset(t, ns), want)

	if err := f.RemovePortMapping(dns); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bridge", "quiet"} {
		if err := f.RemoveNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	equalRules(t, "empty again", ruleset(t, ns), fixed())

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, ns); got != nil {
		t.Fatalf("table still there after Close: %v", got)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.AddNetwork(bridgeNet); !cerrdefs.IsUnavailable(err) {
		t.Fatalf("AddNetwork after Close: %v", err)
	}
}

// TestRecreateAfterCrash: a table left behind by a daemon that died (with
// rules and even a chain Berth no longer knows) is replaced by New.
func TestRecreateAfterCrash(t *testing.T) {
	ns := newNS(t)
	crashed, err := New(WithNetNS(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	if err := crashed.AddPortMapping(web); err != nil {
		t.Fatal(err)
	}
	crashed.conn.CloseLasting() // the process dies; the table stays
	c := nsConn(t, ns)
	c.AddChain(&nftables.Chain{Name: "stale", Table: crashed.table})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	newFirewall(t, ns)
	equalRules(t, "recreated table", ruleset(t, ns), fixed())
}

// TestForeignTablesUntouched: Docker's iptables-nft tables, with a DOCKER
// chain, survive the whole life of Berth's table unchanged.
func TestForeignTablesUntouched(t *testing.T) {
	ns := newNS(t)
	c := nsConn(t, ns)
	accept := nftables.ChainPolicyAccept
	filter := c.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4})
	fwd := c.AddChain(&nftables.Chain{Name: "FORWARD", Table: filter, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	docker := c.AddChain(&nftables.Chain{Name: "DOCKER", Table: filter})
	c.AddRule(&nftables.Rule{Table: filter, Chain: fwd, Exprs: join(oif("docker0"), one(jump("DOCKER")))})
	c.AddRule(&nftables.Rule{Table: filter, Chain: docker, Exprs: join(iifNot("docker0"), oif("docker0"), one(drop()))})
	nat := c.AddTable(&nftables.Table{Name: "nat", Family: nftables.TableFamilyIPv4})
	c.AddChain(&nftables.Chain{Name: "DOCKER", Table: nat})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var lines []string
		for _, tb := range []*nftables.Table{filter, nat} {
			chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range chains {
				if ch.Table.Name != tb.Name {
					continue
				}
				rules, err := c.GetRules(tb, ch)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rules {
					lines = append(lines, fmt.Sprintf("%s/%s #%d %d exprs", tb.Name, ch.Name, r.Handle, len(r.Exprs)))
				}
				lines = append(lines, tb.Name+"/"+ch.Name)
			}
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	before := snapshot()

	f, err := New(WithNetNS(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPortMapping(web); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(); got != before {
		t.Fatalf("foreign tables changed:\n%s\nwas:\n%s", got, before)
	}
	if err := f.RemovePortMapping(web); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveNetwork("bridge"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(); got != before {
		t.Fatalf("foreign tables changed:\n%s\nwas:\n%s", got, before)
	}
	if !strings.Contains(before, "filter/DOCKER #") || !strings.Contains(before, "nat/DOCKER") {
		t.Fatalf("snapshot misses the DOCKER chains:\n%s", before)
	}
}

// Close tolerates a table someone else already deleted (nft flush ruleset).
func TestCloseAfterExternalDelete(t *testing.T) {
	ns := newNS(t)
	f, err := New(WithNetNS(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	c := nsConn(t, ns)
	c.DelTable(f.table)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ns := newNS(t)
	f := newFirewall(t, ns)
	for _, n := range []Network{
		{Bridge: "b0", Subnet: netip.MustParsePrefix("10.0.0.0/8")},
		{Name: "x", Subnet: netip.MustParsePrefix("10.0.0.0/8")},
		{Name: "x", Bridge: "a-name-far-too-long", Subnet: netip.MustParsePrefix("10.0.0.0/8")},
		{Name: "x", Bridge: "b0"},
		{Name: "x", Bridge: "b0", Subnet: netip.MustParsePrefix("fd00::/64")},
	} {
		if err := f.AddNetwork(n); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("AddNetwork(%+v): %v, want invalid argument", n, err)
		}
	}
	if err := f.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	if err := f.AddNetwork(bridgeNet); !cerrdefs.IsConflict(err) {
		t.Errorf("duplicate network: %v", err)
	}
	other := bridgeNet
	other.Name = "other"
	if err := f.AddNetwork(other); !cerrdefs.IsConflict(err) {
		t.Errorf("bridge used twice: %v", err)
	}
	if err := f.RemoveNetwork("nope"); !cerrdefs.IsNotFound(err) {
		t.Errorf("RemoveNetwork(nope): %v", err)
	}

	bad := func(mut func(*Mapping)) Mapping { m := web; mut(&m); return m }
	for _, m := range []Mapping{
		bad(func(m *Mapping) { m.Proto = "sctp" }),
		bad(func(m *Mapping) { m.HostPort = 0 }),
		bad(func(m *Mapping) { m.ContainerPort = 0 }),
		bad(func(m *Mapping) { m.ContainerIP = netip.Addr{} }),
		bad(func(m *Mapping) { m.HostIP = netip.MustParseAddr("::1") }),
		bad(func(m *Mapping) { m.ContainerIP = netip.MustParseAddr("10.1.2.3") }), // outside the subnet
	} {
		if err := f.AddPortMapping(m); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("AddPortMapping(%+v): %v, want invalid argument", m, err)
		}
	}
	if err := f.AddPortMapping(bad(func(m *Mapping) { m.Bridge = "br-none" })); !cerrdefs.IsNotFound(err) {
		t.Errorf("mapping on unknown bridge: %v", err)
	}
	if err := f.AddPortMapping(web); err != nil {
		t.Fatal(err)
	}
	// 0.0.0.0 and the zero Addr are the same mapping.
	if err := f.AddPortMapping(bad(func(m *Mapping) { m.HostIP = netip.IPv4Unspecified() })); !cerrdefs.IsConflict(err) {
		t.Errorf("duplicate mapping: %v", err)
	}
	if err := f.RemovePortMapping(bad(func(m *Mapping) { m.HostPort = 9 })); !cerrdefs.IsNotFound(err) {
		t.Errorf("remove unknown mapping: %v", err)
	}
	if err := f.RemovePortMapping(bad(func(m *Mapping) { m.HostIP = netip.IPv4Unspecified() })); err != nil {
		t.Errorf("remove by 0.0.0.0: %v", err)
	}
}

// TestConcurrentMappings adds and removes many mappings at once (the storm of
// `run --rm -p` containers) and ends with the fresh table.
func TestConcurrentMappings(t *testing.T) {
	ns := newNS(t)
	f := newFirewall(t, ns)
	if err := f.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := web
			m.HostPort = uint16(20000 + i)
			m.ContainerIP = netip.AddrFrom4([4]byte{172, 18, 1, byte(i)})
			if err := f.AddPortMapping(m); err != nil {
				errs <- err
				return
			}
			if err := f.RemovePortMapping(m); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := f.RemoveNetwork("bridge"); err != nil {
		t.Fatal(err)
	}
	equalRules(t, "after the storm", ruleset(t, ns), fixed())
}

// The builders must produce what nft itself would: spot-check one rule's
// expressions read back from the kernel.
func TestReadBackExprs(t *testing.T) {
	ns := newNS(t)
	f := newFirewall(t, ns)
	if err := f.AddNetwork(bridgeNet); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPortMapping(web); err != nil {
		t.Fatal(err)
	}
	rules, err := nsConn(t, ns).GetRules(f.table, f.chains[chainDNAT])
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Fatalf("%d dnat rules", len(rules))
	}
	var nat *expr.NAT
	for _, e := range rules[0].Exprs {
		if n, ok := e.(*expr.NAT); ok {
			nat = n
		}
	}
	if nat == nil || nat.Type != expr.NATTypeDestNAT || !nat.Specified {
		t.Fatalf("dnat rule: %#v", rules[0].Exprs)
	}
}
