package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
)

var (
	mp = netip.MustParsePrefix
	ma = netip.MustParseAddr
)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "network", "ipam.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func addNet(t *testing.T, s *Store, id, subnet, ipRange, gw string) Network {
	t.Helper()
	var r netip.Prefix
	var g netip.Addr
	if ipRange != "" {
		r = mp(ipRange)
	}
	if gw != "" {
		g = ma(gw)
	}
	n, err := s.AddNetwork(id, mp(subnet), r, g)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func alloc(t *testing.T, s *Store, id string) netip.Addr {
	t.Helper()
	a, err := s.Allocate(id, "c-"+id, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDefaultPools(t *testing.T) {
	p := DefaultPools()
	if len(p) != 16 || p[0] != (Pool{mp("172.17.0.0/16"), 16}) || p[14] != (Pool{mp("172.31.0.0/16"), 16}) || p[15] != (Pool{mp("192.168.0.0/16"), 20}) {
		t.Fatalf("default pools %v", p)
	}
}

func TestPickSubnet(t *testing.T) {
	s, _ := openStore(t)
	pools := DefaultPools()
	pick := func(avoid ...string) netip.Prefix {
		t.Helper()
		var av []netip.Prefix
		for _, a := range avoid {
			av = append(av, mp(a))
		}
		p, err := s.PickSubnet(pools, av)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		avoid []string
		want  string
	}{
		{nil, "172.17.0.0/16"},
		{[]string{"172.17.0.0/16"}, "172.18.0.0/16"},                     // docker0
		{[]string{"172.17.42.0/24", "172.18.0.1/32"}, "172.19.0.0/16"},   // a route inside, a host address
		{[]string{"172.16.0.0/12"}, "192.168.0.0/20"},                    // a covering route
		{[]string{"172.16.0.0/12", "192.168.1.5/24"}, "192.168.16.0/20"}, // an unmasked interface address
		{[]string{"10.0.0.0/8", "fd00::/8", "::ffff:172.17.0.0/112"}, "172.18.0.0/16"},
	} {
		if got := pick(tc.avoid...); got != mp(tc.want) {
			t.Errorf("avoid %v: picked %s, want %s", tc.avoid, got, tc.want)
		}
	}

	// Networks in the store count as taken.
	addNet(t, s, "a", "172.17.0.0/16", "", "")
	addNet(t, s, "b", "172.18.128.0/24", "", "")
	if got := pick(); got != mp("172.19.0.0/16") {
		t.Fatalf("picked %s beside networks", got)
	}

	// Everything taken.
	_, err := s.PickSubnet(pools, []netip.Prefix{mp("172.16.0.0/12"), mp("192.168.0.0/16")})
	if !errors.Is(err, ErrNoAvailablePool) || !cerrdefs.IsUnavailable(err) {
		t.Fatalf("exhausted pools: %v", err)
	}
	if _, err := s.PickSubnet([]Pool{{mp("10.0.0.0/16"), 8}}, nil); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("bad pool size: %v", err)
	}
}

// A huge pool with a huge conflict is walked by jumps, not subnet by subnet.
func TestPickSubnetJumpsConflicts(t *testing.T) {
	s, _ := openStore(t)
	pools := []Pool{{mp("10.0.0.0/8"), 24}, {mp("fd00::/8"), 64}}
	p, err := s.PickSubnet(pools, []netip.Prefix{mp("10.0.0.0/9"), mp("10.128.0.0/24")})
	if err != nil || p != mp("10.128.1.0/24") {
		t.Fatalf("picked %s, %v", p, err)
	}
	p, err = s.PickSubnet(pools, []netip.Prefix{mp("10.0.0.0/8"), mp("fd00::/9")})
	if err != nil || p != mp("fd80::/64") {
		t.Fatalf("picked %s, %v", p, err)
	}
}

func TestAddNetworkOverlap(t *testing.T) {
	s, _ := openStore(t)
	n := addNet(t, s, "n1", "172.18.0.0/16", "", "")
	if n.Gateway != ma("172.18.0.1") || n.IPRange.IsValid() {
		t.Fatalf("network %+v", n)
	}
	for _, sub := range []string{"172.18.0.0/16", "172.18.5.0/24", "172.16.0.0/12"} {
		_, err := s.AddNetwork("n2", mp(sub), netip.Prefix{}, netip.Addr{})
		if !errors.Is(err, ErrPoolOverlap) || !cerrdefs.IsConflict(err) ||
			!strings.Contains(err.Error(), "Pool overlaps with other one on this address space") {
			t.Fatalf("overlap %s: %v", sub, err)
		}
	}
	if _, err := s.AddNetwork("n1", mp("10.9.0.0/16"), netip.Prefix{}, netip.Addr{}); !errors.Is(err, ErrNetworkExists) || !cerrdefs.IsConflict(err) {
		t.Fatalf("same id: %v", err)
	}
	// Removing frees the subnet.
	if err := s.RemoveNetwork("n1"); err != nil {
		t.Fatal(err)
	}
	addNet(t, s, "n2", "172.18.5.0/24", "", "")
	if err := s.RemoveNetwork("n1"); !cerrdefs.IsNotFound(err) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestAddNetworkValidation(t *testing.T) {
	s, _ := openStore(t)
	for _, tc := range []struct{ subnet, ipRange, gw string }{
		{"10.0.0.5/24", "", ""},
		{"10.0.0.0/24", "10.0.1.0/28", ""},
		{"10.0.0.0/24", "10.0.0.0/16", ""},
		{"10.0.0.0/24", "10.0.0.3/28", ""},
		{"10.0.0.0/24", "", "10.0.1.1"},
		{"10.0.0.0/24", "", "10.0.0.255"},
		{"10.0.0.0/24", "", "10.0.0.0"},
		{"10.0.0.0/24", "", "fd00::1"},
	} {
		var r netip.Prefix
		var g netip.Addr
		if tc.ipRange != "" {
			r = mp(tc.ipRange)
		}
		if tc.gw != "" {
			g = ma(tc.gw)
		}
		if _, err := s.AddNetwork("x", mp(tc.subnet), r, g); !errors.Is(err, ErrInvalid) || !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	if _, err := s.AddNetwork("", mp("10.0.0.0/24"), netip.Prefix{}, netip.Addr{}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := s.AddNetwork("x", netip.Prefix{}, netip.Prefix{}, netip.Addr{}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("no subnet: %v", err)
	}
	n := addNet(t, s, "gw", "10.0.0.0/24", "10.0.0.128/25", "10.0.0.254")
	if n.Gateway != ma("10.0.0.254") || n.IPRange != mp("10.0.0.128/25") {
		t.Fatalf("network %+v", n)
	}
	if got, err := s.Network("gw"); err != nil || got != n {
		t.Fatalf("Network: %+v, %v", got, err)
	}
	if _, err := s.Network("nope"); !errors.Is(err, ErrNoSuchNetwork) || !cerrdefs.IsNotFound(err) {
		t.Fatalf("unknown network: %v", err)
	}
}

// Addresses come in order after the last one handed out, skip the network,
// gateway and broadcast addresses, wrap around, and run out with Docker's
// message.
func TestAllocateOrderWrapExhaustion(t *testing.T) {
	s, _ := openStore(t)
	addNet(t, s, "n", "10.0.0.0/29", "", "")
	var got []string
	for range 5 {
		got = append(got, alloc(t, s, "n").String())
	}
	if strings.Join(got, " ") != "10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6" {
		t.Fatalf("order %v", got)
	}
	_, err := s.Allocate("n", "c", netip.Addr{})
	if !errors.Is(err, ErrNoAvailableIPs) || !cerrdefs.IsUnavailable(err) ||
		!strings.Contains(err.Error(), "no available IPv4 addresses on this network's address pools") {
		t.Fatalf("exhausted: %v", err)
	}
	// Released addresses come back in cursor order, after wrapping.
	for _, a := range []string{"10.0.0.5", "10.0.0.3"} {
		if err := s.Release("n", ma(a)); err != nil {
			t.Fatal(err)
		}
	}
	if a := alloc(t, s, "n"); a != ma("10.0.0.3") {
		t.Fatalf("after wrap got %s", a)
	}
	if a := alloc(t, s, "n"); a != ma("10.0.0.5") {
		t.Fatalf("next got %s", a)
	}
}

// A released address is not handed out again at once.
func TestAllocateDoesNotReuseAtOnce(t *testing.T) {
	s, _ := openStore(t)
	addNet(t, s, "n", "172.20.0.0/16", "", "")
	a := alloc(t, s, "n")
	if err := s.Release("n", a); err != nil {
		t.Fatal(err)
	}
	if b := alloc(t, s, "n"); b == a || b != a.Next() {
		t.Fatalf("got %s after releasing %s", b, a)
	}
	// Releasing what is not allocated is fine; an unknown network is not.
	if err := s.Release("n", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Release("nope", a); !cerrdefs.IsNotFound(err) {
		t.Fatalf("release on unknown network: %v", err)
	}
	if _, err := s.Allocate("nope", "c", netip.Addr{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("allocate on unknown network: %v", err)
	}
	if _, err := s.Allocate("n", "", netip.Addr{}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("empty owner: %v", err)
	}
}

func TestAllocateIPRange(t *testing.T) {
	s, _ := openStore(t)
	addNet(t, s, "r", "10.1.0.0/16", "10.1.2.0/30", "")
	var got []string
	for range 4 {
		got = append(got, alloc(t, s, "r").String())
	}
	if strings.Join(got, " ") != "10.1.2.0 10.1.2.1 10.1.2.2 10.1.2.3" {
		t.Fatalf("range order %v", got)
	}
	if _, err := s.Allocate("r", "c", netip.Addr{}); !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("range exhausted: %v", err)
	}
	// The gateway and the subnet's own network address are skipped inside a range.
	addNet(t, s, "g", "10.2.0.0/24", "10.2.0.0/30", "")
	if a, b := alloc(t, s, "g"), alloc(t, s, "g"); a != ma("10.2.0.2") || b != ma("10.2.0.3") {
		t.Fatalf("got %s %s", a, b)
	}
	if _, err := s.Allocate("g", "c", netip.Addr{}); !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("exhausted: %v", err)
	}
}

func TestAllocateStatic(t *testing.T) {
	s, _ := openStore(t)
	addNet(t, s, "n", "10.3.0.0/24", "10.3.0.0/25", "")
	a, err := s.Allocate("n", "web", ma("10.3.0.2"))
	if err != nil || a != ma("10.3.0.2") {
		t.Fatalf("static: %s %v", a, err)
	}
	for _, taken := range []string{"10.3.0.2", "10.3.0.1"} { // allocated, gateway
		_, err := s.Allocate("n", "db", ma(taken))
		if !errors.Is(err, ErrAddressInUse) || !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatalf("static %s: %v", taken, err)
		}
	}
	for _, out := range []string{"10.3.0.200", "10.4.0.2", "fd00::2"} {
		_, err := s.Allocate("n", "db", ma(out))
		if !errors.Is(err, ErrOutOfRange) || !cerrdefs.IsInvalidArgument(err) ||
			!strings.Contains(err.Error(), "no configured subnet or ip-range contain the IP address "+out) {
			t.Fatalf("static %s: %v", out, err)
		}
	}
	// Dynamic allocation skips the static address; a static one does not move the cursor.
	if _, err := s.Allocate("n", "x", ma("10.3.0.9")); err != nil {
		t.Fatal(err)
	}
	if b := alloc(t, s, "n"); b != ma("10.3.0.3") {
		t.Fatalf("dynamic after static got %s", b)
	}
	allocs, err := s.Allocations("n")
	if err != nil || len(allocs) != 3 || allocs[ma("10.3.0.2")] != "web" || allocs[ma("10.3.0.9")] != "x" || allocs[ma("10.3.0.3")] != "c-n" {
		t.Fatalf("allocations %v %v", allocs, err)
	}
}

func TestIPv6(t *testing.T) {
	s, _ := openStore(t)
	n := addNet(t, s, "v6", "fd00:1::/64", "", "")
	if n.Gateway != ma("fd00:1::1") {
		t.Fatalf("gateway %s", n.Gateway)
	}
	if a := alloc(t, s, "v6"); a != ma("fd00:1::2") {
		t.Fatalf("got %s", a)
	}
	addNet(t, s, "tiny", "fd00:2::/127", "", "") // ::0 network, ::1 gateway
	if _, err := s.Allocate("tiny", "c", netip.Addr{}); err == nil || !strings.Contains(err.Error(), "no available IPv6 addresses") {
		t.Fatalf("tiny v6: %v", err)
	}
}

// Allocations, the cursor and networks survive Close/Open: the next address
// is after the last one handed out before the restart.
func TestPersistence(t *testing.T) {
	s, path := openStore(t)
	addNet(t, s, "n", "172.21.0.0/16", "", "")
	addNet(t, s, "m", "172.22.0.0/16", "172.22.5.0/24", "172.22.0.254")
	for range 3 {
		alloc(t, s, "n")
	}
	if err := s.Release("n", ma("172.21.0.4")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	allocs, err := s.Allocations("n")
	if err != nil || len(allocs) != 2 || allocs[ma("172.21.0.2")] != "c-n" || allocs[ma("172.21.0.3")] != "c-n" {
		t.Fatalf("allocations after reopen %v %v", allocs, err)
	}
	if a := alloc(t, s, "n"); a != ma("172.21.0.5") {
		t.Fatalf("after reopen got %s", a)
	}
	nets, err := s.Networks()
	if err != nil || len(nets) != 2 || nets[0].ID != "m" || nets[0].Gateway != ma("172.22.0.254") || nets[0].IPRange != mp("172.22.5.0/24") || nets[1].Subnet != mp("172.21.0.0/16") {
		t.Fatalf("networks %+v %v", nets, err)
	}
	if p, err := s.PickSubnet(DefaultPools(), nil); err != nil || p != mp("172.17.0.0/16") {
		t.Fatalf("pick %s %v", p, err)
	}
}

// The file is the daemon's alone: a second Open fails instead of hanging.
func TestOpenLocked(t *testing.T) {
	_, path := openStore(t)
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("second open succeeded")
	}
}

// Concurrent allocations never hand out the same address, and exactly the
// range's capacity succeeds.
func TestConcurrentAllocate(t *testing.T) {
	s, _ := openStore(t)
	addNet(t, s, "a", "10.10.0.0/24", "", "")
	addNet(t, s, "b", "10.11.0.0/24", "", "")
	const workers = 300 // per network; a /24 has 253 free addresses
	var (
		mu       sync.Mutex
		seen     = map[netip.Addr]string{}
		failures = map[string]int{}
		wg       sync.WaitGroup
	)
	for i := range 2 * workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nw := []string{"a", "b"}[i%2]
			owner := fmt.Sprintf("c%d", i)
			a, err := s.Allocate(nw, owner, netip.Addr{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !errors.Is(err, ErrNoAvailableIPs) {
					t.Errorf("allocate: %v", err)
				}
				failures[nw]++
				return
			}
			if prev, dup := seen[a]; dup {
				t.Errorf("%s handed out twice: %s and %s", a, prev, owner)
			}
			seen[a] = owner
		}()
	}
	wg.Wait()
	if len(seen) != 2*253 || failures["a"] != workers-253 || failures["b"] != workers-253 {
		t.Fatalf("%d allocated, failures %v", len(seen), failures)
	}
	for _, nw := range []string{"a", "b"} {
		allocs, err := s.Allocations(nw)
		if err != nil || len(allocs) != 253 {
			t.Fatalf("%s: %d allocations, %v", nw, len(allocs), err)
		}
		for a, owner := range allocs {
			if seen[a] != owner {
				t.Fatalf("%s: %s owned by %q, handed to %q", nw, a, owner, seen[a])
			}
		}
	}
}

// HostPrefixes reads the caller's namespace (read-only) and never returns a
// default route, which would make every subnet unavailable.
func TestHostPrefixes(t *testing.T) {
	ps, err := HostPrefixes(nil)
	if err != nil {
		t.Skipf("netlink unavailable: %v", err)
	}
	for _, p := range ps {
		if !p.IsValid() || p.Bits() == 0 || p != p.Masked() {
			t.Fatalf("bad prefix %s in %v", p, ps)
		}
	}
	t.Logf("host prefixes: %v", ps)
}

func BenchmarkAllocateRelease(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "ipam.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddNetwork("n", mp("10.0.0.0/16"), netip.Prefix{}, netip.Addr{}); err != nil {
		b.Fatal(err)
	}
	// Half full, so a scan from the start would cost thousands of lookups.
	// Filled in parallel so that group commit keeps the set-up short.
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 500 {
				if _, err := s.Allocate("n", "fill", netip.Addr{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		a, err := s.Allocate("n", "c", netip.Addr{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release("n", a); err != nil {
			b.Fatal(err)
		}
	}
}
