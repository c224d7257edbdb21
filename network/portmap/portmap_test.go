package portmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// Everything here listens and connects on 127.0.0.1 only.
var lo = netip.MustParseAddr("127.0.0.1")

// freePort returns a port nobody has bound on 127.0.0.1 right now.
func freePort(t *testing.T, proto string) uint16 {
	t.Helper()
	var addr net.Addr
	if proto == "tcp" {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr()
		ln.Close()
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	}
	return netip.MustParseAddrPort(addr.String()).Port()
}

func TestAllocateExplicit(t *testing.T) {
	a, err := NewAllocator(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := freePort(t, "tcp")
	if got, err := a.Allocate("tcp", lo, p); err != nil || got != p {
		t.Fatalf("Allocate(%d) = %d, %v", p, got, err)
	}
	_, err = a.Allocate("tcp", lo, p)
	want := fmt.Sprintf("Bind for 127.0.0.1:%d failed: port is already allocated", p)
	if !errors.Is(err, ErrPortAllocated) || !cerrdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("second Allocate: %v, want %q", err, want)
	}
	// The same port on all addresses overlaps 127.0.0.1 (checked before any
	// bind, so nothing is bound on 0.0.0.0 here).
	if _, err := a.Allocate("tcp", netip.Addr{}, p); !errors.Is(err, ErrPortAllocated) ||
		!strings.HasPrefix(err.Error(), fmt.Sprintf("Bind for 0.0.0.0:%d failed", p)) {
		t.Fatalf("0.0.0.0 over 127.0.0.1: %v", err)
	}
	// Another protocol is another port.
	if _, err := a.Allocate("udp", lo, p); err != nil && !errors.Is(err, ErrPortInUse) {
		t.Fatalf("udp on the same number: %v", err)
	}
	a.Release("tcp", lo, p)
	a.Release("tcp", lo, p) // twice is fine
	if _, err := a.Allocate("tcp", lo, p); err != nil {
		t.Fatalf("after Release: %v", err)
	}
	if _, err := a.Allocate("sctp", lo, p); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("sctp: %v", err)
	}
}

// A port some other process holds is refused at allocation.
func TestAllocateBoundByOthers(t *testing.T) {
	a, _ := NewAllocator(0, 0)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := netip.MustParseAddrPort(ln.Addr().String()).Port()
	_, err = a.Allocate("tcp", lo, p)
	if !errors.Is(err, ErrPortInUse) || !cerrdefs.IsConflict(err) ||
		err.Error() != fmt.Sprintf("Bind for 127.0.0.1:%d failed: address already in use", p) {
		t.Fatalf("Allocate of a bound port: %v", err)
	}

	uc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	up := netip.MustParseAddrPort(uc.LocalAddr().String()).Port()
	if _, err := a.Allocate("udp", lo, up); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("Allocate of a bound udp port: %v", err)
	}
}

func TestAllocateEphemeral(t *testing.T) {
	if _, err := NewAllocator(10, 5); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("bad range: %v", err)
	}
	a, _ := NewAllocator(0, 0)
	p, err := a.Allocate("tcp", lo, 0)
	if err != nil || p < DefaultRangeStart {
		t.Fatalf("ephemeral = %d, %v", p, err)
	}

	// A small range of its own: three ports, one bound by "someone else".
	base := freePort(t, "tcp")
	if base > 65530 {
		base = 60000
	}
	a, err = NewAllocator(base, base+2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", base+1))
	if err != nil {
		t.Skipf("cannot bind the test port: %v", err)
	}
	defer other.Close()
	seen := map[uint16]bool{}
	for range 2 {
		p, err := a.Allocate("tcp", lo, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p == base+1 || p < base || p > base+2 || seen[p] {
			t.Fatalf("picked %d from %d-%d (bound: %d, seen %v)", p, base, base+2, base+1, seen)
		}
		seen[p] = true
	}
	if _, err := a.Allocate("tcp", lo, 0); !errors.Is(err, ErrNoPorts) || !cerrdefs.IsUnavailable(err) {
		t.Fatalf("exhausted range: %v", err)
	}
	a.Release("tcp", lo, base)
	if p, err := a.Allocate("tcp", lo, 0); err != nil || p != base {
		t.Fatalf("after Release: %d, %v", p, err)
	}
}

func TestAllocateConcurrent(t *testing.T) {
	a, _ := NewAllocator(0, 0)
	var mu sync.Mutex
	got := map[uint16]bool{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := a.Allocate("tcp", lo, 0)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if got[p] {
				t.Errorf("port %d handed out twice", p)
			}
			got[p] = true
		}()
	}
	wg.Wait()
}

// echoTCP serves on 127.0.0.1: it echoes everything and, after the client's
// half-close, writes "bye" and closes.
func echoTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
				c.Write([]byte("bye"))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func startProxy(t *testing.T, proto string, backend netip.AddrPort, opts ...ProxyOption) (io.Closer, string) {
	t.Helper()
	port := freePort(t, proto)
	p, err := StartProxy(proto, lo, port, backend.Addr(), backend.Port(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, fmt.Sprintf("127.0.0.1:%d", port)
}

func TestTCPProxyEchoAndHalfClose(t *testing.T) {
	_, addr := startProxy(t, "tcp", echoTCP(t))
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("berth "), 100000) // bigger than socket buffers
	go func() {
		c.Write(msg)
		// Half-close: the server must see EOF through the proxy while we
		// still read its answer.
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(msg, "bye"...); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (tail %q), want %d", len(got), got[max(0, len(got)-10):], len(want))
	}
}

func TestTCPProxyConcurrent(t *testing.T) {
	_, addr := startProxy(t, "tcp", echoTCP(t))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := fmt.Sprintf("hello %d", i)
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Error(err)
				return
			}
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != msg+"bye" {
				t.Errorf("conn %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

// A dead container closes the client's connection instead of hanging it.
func TestTCPProxyBackendDown(t *testing.T) {
	dead := netip.AddrPortFrom(lo, freePort(t, "tcp"))
	_, addr := startProxy(t, "tcp", dead)
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("read from a proxy to nowhere: %d, %v", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close frees the port and ends open connections.
func TestTCPProxyClose(t *testing.T) {
	backend := echoTCP(t)
	port := freePort(t, "tcp")
	p, err := StartProxy("tcp", lo, port, backend.Addr(), backend.Port())
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Binding failures are reported at start.
	if _, err := StartProxy("tcp", lo, port, backend.Addr(), backend.Port()); !errors.Is(err, ErrPortInUse) ||
		err.Error() != fmt.Sprintf("Bind for %s failed: address already in use", addr) {
		t.Fatalf("second proxy on the port: %v", err)
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("x"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Fatalf("connection left open after Close: %v", err)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("port not freed by Close: %v", err)
	}
	ln.Close()
}

// echoUDP answers every datagram with "re:" + datagram.
func echoUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

func TestUDPProxy(t *testing.T) {
	p, addr := startProxy(t, "udp", echoUDP(t), WithUDPIdleTimeout(200*time.Millisecond))
	// Several clients at once, each its own flow.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp4", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 100)
			for j := range 3 {
				msg := fmt.Sprintf("c%d-%d", i, j)
				// UDP may drop; retry a few times on loopback.
				var got string
				for try := 0; try < 5 && got == ""; try++ {
					c.Write([]byte(msg))
					c.SetReadDeadline(time.Now().Add(time.Second))
					if n, err := c.Read(buf); err == nil {
						got = string(buf[:n])
					}
				}
				if got != "re:"+msg {
					t.Errorf("client %d: %q, want %q", i, got, "re:"+msg)
					return
				}
			}
		}()
	}
	wg.Wait()

	// Idle flows go away.
	up := p.(*udpProxy)
	deadline := time.Now().Add(5 * time.Second)
	for {
		up.mu.Lock()
		n := len(up.flows)
		up.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flows still open after the idle timeout", n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("port not freed by Close: %v", err)
	}
	c.Close()
}

func TestStartProxyErrors(t *testing.T) {
	if _, err := StartProxy("sctp", lo, 1, lo, 1); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("sctp: %v", err)
	}
	if _, err := StartProxy("tcp", lo, 1, netip.Addr{}, 1); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("no container address: %v", err)
	}
	uc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	up := netip.MustParseAddrPort(uc.LocalAddr().String()).Port()
	if _, err := StartProxy("udp", lo, up, lo, 9); !errors.Is(err, ErrPortInUse) || !cerrdefs.IsConflict(err) {
		t.Fatalf("udp port taken: %v", err)
	}
}

// A host port range gets its first port that is free, here and on the host.
func TestAllocateRange(t *testing.T) {
	a, _ := NewAllocator(0, 0)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bound := netip.MustParseAddrPort(ln.Addr().String()).Port()
	if bound < 2 || bound > 65533 {
		t.Skipf("port %d at the edge", bound)
	}
	// bound-1 held by this allocator, bound by another process: bound+1.
	if _, err := a.Allocate("tcp", lo, bound-1); err != nil && !errors.Is(err, ErrPortInUse) {
		t.Fatal(err)
	}
	got, err := a.AllocateRange("tcp", lo, bound-1, bound+1)
	if err != nil && !errors.Is(err, ErrPortAllocated) {
		t.Fatal(err)
	}
	if err == nil && got != bound+1 {
		t.Fatalf("AllocateRange = %d, want %d", got, bound+1)
	}
	// All taken now (or bound+1 was taken by someone else meanwhile).
	_, err = a.AllocateRange("tcp", lo, bound-1, bound+1)
	want := fmt.Sprintf("Bind for 127.0.0.1:%d-%d failed: port is already allocated", bound-1, bound+1)
	if !errors.Is(err, ErrPortAllocated) || !cerrdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("exhausted range: %v, want %q", err, want)
	}
	if _, err := a.AllocateRange("tcp", lo, 10, 9); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("reversed range: %v", err)
	}
}
