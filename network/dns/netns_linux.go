package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/berth-engine/berth/internal/netnsdo"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ListenInNetns opens the resolver's sockets, UDP and TCP on addr, inside the
// network namespace at nsPath (/proc/<pid>/ns/net, a bind mount under
// /run/netns, ...), typically 127.0.0.11:53. A socket belongs to the
// namespace it was created in for its whole life, so the returned sockets
// can be served from any goroutine of the daemon.
//
// The sockets are created on a goroutine locked to its OS thread, switched
// into the namespace and back. Should switching back fail, the thread is left
// locked and so dies with its goroutine rather than being reused by the Go
// runtime in the wrong namespace.
//
// The namespace's loopback interface is brought up first if it is down (as
// every container runtime does anyway): 127.0.0.0/8 only exists on an up lo.
// With port 0, both sockets get the same random port.
func ListenInNetns(nsPath string, addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()

	var pc net.PacketConn
	var l net.Listener
	err = netnsdo.Do(target, func() (err error) {
		pc, l, err = listenHere(addr)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen on %s in network namespace %s: %w", addr, nsPath, err)
	}
	return pc, l, nil
}

// listenHere brings lo up and opens UDP and TCP sockets on addr in the
// calling thread's network namespace.
func listenHere(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	if addr.Addr().IsLoopback() {
		if err := loopbackUp(); err != nil {
			return nil, nil, err
		}
	}
	// With port 0 the UDP port might already be taken for TCP: retry.
	tries := 1
	if addr.Port() == 0 {
		tries = 8
	}
	var lastErr error
	for range tries {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, fmt.Errorf("udp: %w", err)
		}
		taddr := netip.AddrPortFrom(addr.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(taddr))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("tcp: %w", err)
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, lastErr
}

// loopbackUp sets the current namespace's lo up if it is not.
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
