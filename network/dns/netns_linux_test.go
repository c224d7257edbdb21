package dns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// scratchNetns creates a named network namespace for the test and returns
// its path; it skips the test when that is not possible (not root).
func scratchNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	name := fmt.Sprintf("berth-dns-test-%d", os.Getpid())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // switches this thread into it
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	ns.Close()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked so it dies; fail the test.
		runtime.LockOSThread()
		t.Fatalf("switch back to the original namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return filepath.Join("/run/netns", name)
}

// inNetns runs fn on a thread switched into the namespace at path. Sockets
// fn opens stay in that namespace.
func inNetns(t *testing.T, path string, fn func()) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestListenInNetns serves a Resolver on 127.0.0.11:53 inside a scratch
// network namespace, queries it from inside that namespace, and checks that
// forwarding reaches a loopback upstream of the test's own (host) namespace,
// which is not reachable from the scratch one.
func TestListenInNetns(t *testing.T) {
	path := scratchNetns(t)
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	up := startFakeUpstream(t) // 127.0.0.2, host namespace
	pc, l, err := ListenInNetns(path, netip.MustParseAddrPort("127.0.0.11:53"))
	if err != nil {
		t.Fatalf("ListenInNetns: %v", err)
	}
	r := NewResolver(testTable(), []string{"front"}, []netip.AddrPort{up.addr}, WithTimeout(time.Second))
	if err := r.Start(pc, l); err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// The daemon's other threads did not move: every thread the runtime
	// hands out is still in the host namespace.
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cur, err := netns.Get()
			if err != nil {
				t.Error(err)
				return
			}
			defer cur.Close()
			if !cur.Equal(host) {
				t.Error("a thread was left in the container namespace")
			}
		}()
	}
	wg.Wait()

	server := netip.MustParseAddrPort("127.0.0.11:53")
	var conns []*dns.Conn
	var upstreamFromInside error
	inNetns(t, path, func() {
		for _, proto := range []string{"udp", "tcp"} {
			c, err := net.DialTimeout(proto, server.String(), time.Second)
			if err != nil {
				t.Errorf("dial %s %s in the namespace: %v", proto, server, err)
				continue
			}
			conns = append(conns, &dns.Conn{Conn: c})
		}
		// The fake upstream lives in the host namespace only.
		q := new(dns.Msg)
		q.SetQuestion(upKnown, dns.TypeA)
		_, _, upstreamFromInside = (&dns.Client{Timeout: 300 * time.Millisecond}).Exchange(q, up.addr.String())
	})
	if upstreamFromInside == nil {
		t.Error("the host's 127.0.0.2 upstream answered from inside the scratch namespace")
	}
	for _, co := range conns {
		defer co.Close()
		proto := co.LocalAddr().Network()
		c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
		for _, tc := range []struct {
			name string
			want []netip.Addr
		}{
			{"web", addrs("172.20.0.2")},
			{"WWW.", addrs("172.20.0.2")},
			{upKnown, addrs("192.0.2.1")}, // forwarded from the host namespace
		} {
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(tc.name), dns.TypeA)
			resp, _, err := c.ExchangeWithConn(q, co)
			if err != nil {
				t.Errorf("%s %s: %v", proto, tc.name, err)
				continue
			}
			if got := answerAddrs(resp); !slices.Equal(got, tc.want) {
				t.Errorf("%s %s = %v (%s), want %v", proto, tc.name, got, dns.RcodeToString[resp.Rcode], tc.want)
			}
		}
	}

	// Port 0: the same random port for UDP and TCP.
	pc0, l0, err := ListenInNetns(path, netip.MustParseAddrPort("127.0.0.11:0"))
	if err != nil {
		t.Fatalf("ListenInNetns port 0: %v", err)
	}
	defer pc0.Close()
	defer l0.Close()
	up0, tp0 := pc0.LocalAddr().(*net.UDPAddr).Port, l0.Addr().(*net.TCPAddr).Port
	if up0 == 0 || up0 != tp0 {
		t.Errorf("port 0: udp %d, tcp %d", up0, tp0)
	}
	// Not reachable from the host namespace.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.11:%d", tp0), time.Second); err == nil {
		c.Close()
		t.Error("the namespace's listener is reachable from the host namespace")
	}

	if _, _, err := ListenInNetns("/nonexistent/ns", netip.MustParseAddrPort("127.0.0.11:53")); err == nil {
		t.Error("ListenInNetns on a missing namespace succeeded")
	}
}
