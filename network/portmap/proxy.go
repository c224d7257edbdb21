package portmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Defaults of the userland proxy.
const (
	// DefaultUDPIdleTimeout ends a UDP flow with no traffic either way; it is
	// Docker's (and conntrack's) UDP stream timeout.
	DefaultUDPIdleTimeout = 90 * time.Second
	// DefaultDialTimeout bounds connecting to the container.
	DefaultDialTimeout = 10 * time.Second
)

// ProxyOption configures StartProxy.
type ProxyOption func(*proxyOptions)

type proxyOptions struct {
	udpIdle     time.Duration
	dialTimeout time.Duration
}

// WithUDPIdleTimeout sets how long a UDP flow lives without traffic.
func WithUDPIdleTimeout(d time.Duration) ProxyOption {
	return func(o *proxyOptions) { o.udpIdle = d }
}

// WithDialTimeout sets how long connecting to the container may take.
func WithDialTimeout(d time.Duration) ProxyOption {
	return func(o *proxyOptions) { o.dialTimeout = d }
}

// StartProxy listens on hostIP:hostPort (zero hostIP = 0.0.0.0) and forwards
// proto traffic to containerIP:containerPort, so that a published port works
// where DNAT does not apply (the host's own loopback). The port is bound
// before StartProxy returns: a taken port is an error here ("Bind for
// 127.0.0.1:8080 failed: address already in use"), never a proxy that
// silently does nothing. Close stops listening, ends every connection or
// flow and waits for them.
func StartProxy(proto string, hostIP netip.Addr, hostPort uint16, containerIP netip.Addr, containerPort uint16, opts ...ProxyOption) (io.Closer, error) {
	o := proxyOptions{udpIdle: DefaultUDPIdleTimeout, dialTimeout: DefaultDialTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	hostIP, err := checkArgs(proto, hostIP)
	if err != nil {
		return nil, err
	}
	containerIP = containerIP.Unmap()
	if !containerIP.IsValid() || hostPort == 0 || containerPort == 0 {
		return nil, fmt.Errorf("portmap: proxy %s %s:%d -> %s:%d: %w", proto, addrString(hostIP), hostPort, containerIP, containerPort,
			cerrdefs.ErrInvalidArgument.WithMessage("missing address or port"))
	}
	listen := net.JoinHostPort(addrString(hostIP), strconv.Itoa(int(hostPort)))
	backend := netip.AddrPortFrom(containerIP, containerPort)
	k := key{proto, hostIP, hostPort}
	if proto == "tcp" {
		// Keep-alive is set once on the listening socket, whose accepted
		// sockets inherit it, rather than by four setsockopt calls on each
		// accepted connection (Go's default): syscalls are most of a short
		// connection's cost here.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), network(proto, hostIP), listen)
		if err != nil {
			return nil, bindError(k, bindErrno(err))
		}
		if err := setKeepAlive(ln.(*net.TCPListener)); err != nil {
			ln.Close()
			return nil, fmt.Errorf("portmap: proxy %s %s: keep-alive: %w", proto, listen, err)
		}
		p := &tcpProxy{
			ln:      ln,
			backend: backend.String(),
			// The container's side needs no keep-alive: its connections
			// end with the container's endpoint, which closes the proxy.
			dialer: net.Dialer{Timeout: o.dialTimeout, KeepAlive: -1},
			conns:  map[net.Conn]struct{}{},
		}
		p.wg.Add(1)
		go p.serve()
		return p, nil
	}
	ln, err := net.ListenUDP(network(proto, hostIP), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
	if err != nil {
		return nil, bindError(k, bindErrno(err))
	}
	p := &udpProxy{ln: ln, backend: net.UDPAddrFromAddrPort(backend), idle: o.udpIdle, flows: map[netip.AddrPort]*udpFlow{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Keep-alive of the clients' connections: Go's defaults for TCP (first
// probe after 15 s idle, then every 15 s, 9 probes), so that a client that
// vanished without a FIN does not hold the proxy's connections forever.
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

// setKeepAlive enables keep-alive on a listening socket; Linux copies it to
// every socket accepted from it.
func setKeepAlive(ln *net.TCPListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct{ level, opt, val int }{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepAliveInterval},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
		} {
			if serr = unix.SetsockoptInt(int(fd), o.level, o.opt, o.val); serr != nil {
				return
			}
		}
	})
	return errors.Join(err, serr)
}

// tcpProxy accepts connections and splices each to a new connection to the
// container, both ways, passing half-closes through.
type tcpProxy struct {
	ln      net.Listener
	backend string
	dialer  net.Dialer
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open on either side, closed by Close
	closed bool
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // e.g. EMFILE: do not spin
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.wg.Add(1)
		go p.handle(c.(*net.TCPConn))
	}
}

// track registers c for Close; false if the proxy is already closed.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) handle(client *net.TCPConn) {
	defer p.wg.Done()
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	c, err := p.dialer.Dial("tcp", p.backend)
	if err != nil {
		return // the client sees its connection closed, as with docker-proxy
	}
	backend := c.(*net.TCPConn)
	if !p.track(backend) {
		backend.Close()
		return
	}
	defer p.untrack(backend)

	done := make(chan struct{})
	go func() {
		pipe(backend, client)
		close(done)
	}()
	pipe(client, backend)
	<-done
}

// pipe copies src to dst (splice(2) between TCP sockets) and then half-closes
// dst, so that a client's shutdown(SHUT_WR) reaches the container and the
// other direction keeps flowing. On an error (reset) both are closed, which
// also ends the other direction.
func pipe(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}

func (p *tcpProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// udpProxy keeps one connected socket to the container per client address
// (a flow), so replies find their way back; a flow ends after idle time
// without traffic.
type udpProxy struct {
	ln      *net.UDPConn
	backend *net.UDPAddr
	idle    time.Duration
	wg      sync.WaitGroup

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool
}

type udpFlow struct {
	conn *net.UDPConn
	last time.Time // guarded by udpProxy.mu
}

func (p *udpProxy) serve() {
	defer p.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := p.ln.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		f := p.flow(from)
		if f == nil {
			continue // cannot reach the container: drop, as a router would
		}
		f.conn.Write(buf[:n]) // a lost datagram is UDP's contract
	}
}

// flow returns the client's flow, making it on its first datagram, and marks
// it active.
func (p *udpProxy) flow(client netip.AddrPort) *udpFlow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if f := p.flows[client]; f != nil {
		f.last = time.Now()
		return f
	}
	c, err := net.DialUDP("udp", nil, p.backend)
	if err != nil {
		return nil
	}
	f := &udpFlow{conn: c, last: time.Now()}
	p.flows[client] = f
	p.wg.Add(1)
	go p.replies(client, f)
	return f
}

// replies sends the container's datagrams back to the client until the flow
// has been idle for p.idle or the proxy closes.
func (p *udpProxy) replies(client netip.AddrPort, f *udpFlow) {
	defer p.wg.Done()
	defer f.conn.Close()
	buf := make([]byte, 65535)
	for {
		f.conn.SetReadDeadline(time.Now().Add(p.idle))
		n, err := f.conn.Read(buf)
		if err == nil {
			p.mu.Lock()
			f.last = time.Now()
			p.mu.Unlock()
			p.ln.WriteToUDPAddrPort(buf[:n], client)
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // ICMP port unreachable: the container may listen later
		}
		p.mu.Lock()
		if errors.Is(err, net.ErrClosed) || p.closed || time.Since(f.last) >= p.idle {
			// Removed under the lock, so serve never writes to a flow
			// that is going away without making a new one.
			if p.flows[client] == f {
				delete(p.flows, client)
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock() // client traffic kept the flow alive
	}
}

func (p *udpProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, f := range p.flows {
		f.conn.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
