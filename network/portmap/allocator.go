// Package portmap allocates host ports for published container ports and runs
// the userland proxy that serves them where DNAT does not reach (the host's
// loopback), as Docker's portallocator and docker-proxy do.
package portmap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Docker's default ephemeral range for published ports without a host port.
const (
	DefaultRangeStart uint16 = 49153
	DefaultRangeEnd   uint16 = 65535
)

var (
	// ErrPortAllocated: another mapping of this daemon holds the port.
	ErrPortAllocated = errclass.New("port is already allocated", cerrdefs.ErrConflict)
	// ErrPortInUse: some other process on the host has the port bound.
	ErrPortInUse = errclass.New("address already in use", cerrdefs.ErrConflict)
	// ErrNoPorts: the ephemeral range is exhausted.
	ErrNoPorts = errclass.New("all ports are allocated", cerrdefs.ErrUnavailable)
)

type key struct {
	proto string
	ip    netip.Addr // zero = all addresses
	port  uint16
}

// Allocator hands out host ports per protocol and host address. A port on
// the unspecified address conflicts with the same port on any address, as
// binding would. It is safe for concurrent use; its state lives in memory and
// is rebuilt by the daemon from its containers at start.
type Allocator struct {
	mu         sync.Mutex
	start, end uint16
	next       uint16 // where the next ephemeral search begins
	used       map[key]struct{}
}

// NewAllocator returns an allocator picking ephemeral ports in [start, end];
// 0, 0 means Docker's default range.
func NewAllocator(start, end uint16) (*Allocator, error) {
	if start == 0 && end == 0 {
		start, end = DefaultRangeStart, DefaultRangeEnd
	}
	if start == 0 || start > end {
		return nil, fmt.Errorf("portmap: invalid port range %d-%d: %w", start, end, cerrdefs.ErrInvalidArgument)
	}
	return &Allocator{start: start, end: end, next: start, used: map[key]struct{}{}}, nil
}

// Allocate reserves port (or, if 0, a free one from the ephemeral range) for
// proto on hostIP (zero or 0.0.0.0 = all addresses) and returns it. A port
// this allocator already holds, or one another process has bound, is a
// conflict: "Bind for 0.0.0.0:8080 failed: port is already allocated".
func (a *Allocator) Allocate(proto string, hostIP netip.Addr, port uint16) (uint16, error) {
	hostIP, err := checkArgs(proto, hostIP)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if port != 0 {
		k := key{proto, hostIP, port}
		if a.taken(k) {
			return 0, bindError(k, ErrPortAllocated)
		}
		if err := probeBind(proto, hostIP, port); err != nil {
			return 0, bindError(k, err)
		}
		a.used[k] = struct{}{}
		return port, nil
	}
	n := int(a.end) - int(a.start) + 1
	for i := 0; i < n; i++ {
		p := a.next
		if a.next == a.end {
			a.next = a.start
		} else {
			a.next++
		}
		k := key{proto, hostIP, p}
		if a.taken(k) || probeBind(proto, hostIP, p) != nil {
			continue
		}
		a.used[k] = struct{}{}
		return p, nil
	}
	return 0, fmt.Errorf("portmap: %s %s ports %d-%d: %w", proto, addrString(hostIP), a.start, a.end, ErrNoPorts)
}

// AllocateRange reserves the first port of [lo, hi] for proto on hostIP
// that neither this allocator nor another process holds, as Docker does for
// `-p 8000-8010:80`.
func (a *Allocator) AllocateRange(proto string, hostIP netip.Addr, lo, hi uint16) (uint16, error) {
	hostIP, err := checkArgs(proto, hostIP)
	if err != nil {
		return 0, err
	}
	if lo == 0 || lo > hi {
		return 0, fmt.Errorf("portmap: invalid host port range %d-%d: %w", lo, hi, cerrdefs.ErrInvalidArgument)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p := int(lo); p <= int(hi); p++ {
		k := key{proto, hostIP, uint16(p)}
		if a.taken(k) || probeBind(proto, hostIP, uint16(p)) != nil {
			continue
		}
		a.used[k] = struct{}{}
		return uint16(p), nil
	}
	return 0, fmt.Errorf("Bind for %s:%d-%d failed: %w", addrString(hostIP), lo, hi, ErrPortAllocated)
}

// Release gives back a port; releasing a port not held is a no-op so that
// cleanup paths can run twice.
func (a *Allocator) Release(proto string, hostIP netip.Addr, port uint16) {
	hostIP, _ = checkArgs(proto, hostIP)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.used, key{proto, hostIP, port})
}

// taken reports a conflict with k: the same address, or either side being
// the unspecified address.
func (a *Allocator) taken(k key) bool {
	if _, ok := a.used[k]; ok {
		return true
	}
	if !k.ip.IsValid() {
		for u := range a.used {
			if u.proto == k.proto && u.port == k.port {
				return true
			}
		}
		return false
	}
	_, ok := a.used[key{k.proto, netip.Addr{}, k.port}]
	return ok
}

// probeBind binds the port for a moment: a port some other process holds
// must fail here, at allocation, not later when the container has started.
func probeBind(proto string, ip netip.Addr, port uint16) error {
	addr := net.JoinHostPort(addrString(ip), strconv.Itoa(int(port)))
	var c interface{ Close() error }
	var err error
	switch proto {
	case "tcp":
		c, err = net.Listen(network(proto, ip), addr)
	default:
		c, err = net.ListenPacket(network(proto, ip), addr)
	}
	if err != nil {
		return bindErrno(err)
	}
	return c.Close()
}

// bindErrno classifies a bind failure.
func bindErrno(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return ErrPortInUse
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%w: %w", cerrdefs.ErrInvalidArgument, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %w", cerrdefs.ErrPermissionDenied, err)
	}
	return fmt.Errorf("%w: %w", cerrdefs.ErrUnavailable, err)
}

// bindError words a failure as Docker does: "Bind for 0.0.0.0:8080 failed: ...".
func bindError(k key, err error) error {
	return fmt.Errorf("Bind for %s failed: %w", net.JoinHostPort(addrString(k.ip), strconv.Itoa(int(k.port))), err)
}

func checkArgs(proto string, ip netip.Addr) (netip.Addr, error) {
	if proto != "tcp" && proto != "udp" {
		return ip, fmt.Errorf("portmap: unsupported protocol %q: %w", proto, cerrdefs.ErrInvalidArgument)
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		ip = netip.Addr{}
	}
	return ip, nil
}

// addrString prints the zero Addr as 0.0.0.0, as Docker's messages do.
func addrString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "0.0.0.0"
	}
	return ip.String()
}

// network picks tcp4/udp4 for IPv4 (and for "all addresses", which means
// IPv4's 0.0.0.0 here, as the firewall only handles IPv4), tcp6/udp6 else.
func network(proto string, ip netip.Addr) string {
	if ip.IsValid() && ip.Is6() {
		return proto + "6"
	}
	return proto + "4"
}
