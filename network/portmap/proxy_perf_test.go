package portmap

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The userland proxy's cost against reaching the server directly, on
// 127.0.0.1 (go test -run '^$' -bench . ./network/portmap/): one short exchange per connection (an HTTP/1.0 GET, as busybox
// httpd serves it: the server closes after its answer), and bulk transfer
// through one connection.

const benchResponse = "HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\nhello from netbench\n"

// serveLoopback accepts connections on 127.0.0.1 until the benchmark ends,
// each handled (then closed) on its own goroutine.
func serveLoopback(b *testing.B, handle func(net.Conn)) netip.AddrPort {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// httpOnce serves one answer per connection and closes it.
func httpOnce(b *testing.B) netip.AddrPort {
	return serveLoopback(b, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if l == "\r\n" {
				break
			}
		}
		io.WriteString(c, benchResponse)
	})
}

// sink reads everything and counts nothing: the bulk benchmark's server.
func sink(b *testing.B) netip.AddrPort {
	return serveLoopback(b, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte("done"))
	})
}

// proxyTo starts a proxy on an ephemeral port of 127.0.0.1 to backend.
func proxyTo(b *testing.B, backend netip.AddrPort) string {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	ln.Close()
	p, err := StartProxy("tcp", lo, port, backend.Addr(), backend.Port())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return netip.AddrPortFrom(lo, port).String()
}

func get(addr string) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err == nil && string(got) != benchResponse {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// The clients' connections get the proxy's keep-alive from its listening
// socket (inherited at accept), not from a setsockopt per connection.
func TestKeepAliveInherited(t *testing.T) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := setKeepAlive(ln.(*net.TCPListener)); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, err := a.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	rc.Control(func(fd uintptr) {
		for name, o := range map[string][2]int{
			"SO_KEEPALIVE":  {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			"TCP_KEEPIDLE":  {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			"TCP_KEEPINTVL": {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			"TCP_KEEPCNT":   {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		} {
			v, err := unix.GetsockoptInt(int(fd), o[0], o[1])
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			got[name] = v
		}
	})
	want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": keepAliveIdle, "TCP_KEEPINTVL": keepAliveInterval, "TCP_KEEPCNT": keepAliveCount}
	if !maps.Equal(got, want) {
		t.Fatalf("accepted socket's keep-alive %v, want %v", got, want)
	}
}

// BenchmarkConnectionPerRequest: a new connection for each GET, from
// several clients at once.
func BenchmarkConnectionPerRequest(b *testing.B) {
	backend := httpOnce(b)
	for _, tc := range []struct{ name, addr string }{
		{"direct", backend.String()},
		{"proxy", proxyTo(b, backend)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(tc.addr); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// echoOnce answers each message it reads with the same bytes: a
// request/response server over a persistent connection.
func echoOnce(b *testing.B) netip.AddrPort {
	b.Helper()
	return serveLoopback(b, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// BenchmarkKeepAlive: small request/response exchanges over connections
// that stay open (HTTP keep-alive), from several clients at once.
func BenchmarkKeepAlive(b *testing.B) {
	backend := echoOnce(b)
	msg := []byte(benchResponse)
	for _, tc := range []struct{ name, addr string }{
		{"direct", backend.String()},
		{"proxy", proxyTo(b, backend)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp4", tc.addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				buf := make([]byte, len(msg))
				for pb.Next() {
					if _, err := c.Write(msg); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBulk: 64 KiB writes through one connection.
func BenchmarkBulk(b *testing.B) {
	backend := sink(b)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for _, tc := range []struct{ name, addr string }{
		{"direct", backend.String()},
		{"proxy", proxyTo(b, backend)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := net.Dial("tcp4", tc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			if got, err := io.ReadAll(c); err != nil || !strings.HasSuffix(string(got), "done") {
				b.Fatalf("end of transfer: %q %v", got, err)
			}
		})
	}
}
