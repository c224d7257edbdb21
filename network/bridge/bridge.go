// Package bridge is the Linux plumbing of Berth's bridge driver: the bridge
// itself, and the veth pair that connects a container's network namespace to
// it. It talks netlink directly (no ip subprocesses) and every operation takes
// an explicit netlink handle for the "host" namespace, so that the daemon uses
// its own namespace and tests a scratch one.
//
// It knows nothing of IPAM, firewall rules or the daemon's records: the
// caller passes addresses in and keeps the host-side interface name that
// ConnectContainer returns, to disconnect later.
package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// maxIfName is the longest interface name Linux takes (IFNAMSIZ-1).
const maxIfName = 15

// hostIfRandLen is the number of random hex characters after HostIfPrefix,
// as Docker's "veth1a2b3c4".
const hostIfRandLen = 7

// EnsureBridge makes the bridge name exist, carry gateway (e.g.
// 172.17.0.1/16) and be up, creating it if missing; with mtu > 0 it also sets
// its MTU. It is idempotent, so the daemon calls it at every start. A link of
// that name that is not a bridge, or a bridge with another address of the
// gateway's family, is a conflict error naming it: the daemon must not take
// over an interface someone else configured.
func EnsureBridge(h *netlink.Handle, name string, gateway netip.Prefix, mtu int) (retErr error) {
	if err := checkIfName(name); err != nil {
		return fmt.Errorf("bridge %q: %w", name, err)
	}
	if !gateway.IsValid() {
		return fmt.Errorf("bridge %s: %w", name, cerrdefs.ErrInvalidArgument.WithMessage("no gateway address"))
	}
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		la.MTU = mtu
		// A fixed MAC: otherwise the bridge takes the lowest MAC of its
		// ports and changes it as containers come and go, which breaks
		// the neighbours' ARP caches.
		la.HardwareAddr = randomMAC()
		if err = h.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err == nil {
			defer func() {
				if retErr != nil {
					_ = h.LinkDel(&netlink.Bridge{LinkAttrs: la})
				}
			}()
		} else if !errors.Is(err, unix.EEXIST) { // EEXIST: a concurrent create won
			return fmt.Errorf("bridge %s: create: %w", name, err)
		}
		link, err = h.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("bridge %s: %w", name, cerrdefs.ErrConflict.WithMessage(
			fmt.Sprintf("interface %s exists and is a %s, not a bridge", name, link.Type())))
	}
	fam := netlink.FAMILY_V4
	if gateway.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := h.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("bridge %s: list addresses: %w", name, err)
	}
	have := false
	for _, a := range addrs {
		p := prefixOf(a.IPNet)
		switch {
		case p == gateway:
			have = true
		case p.Addr().IsLinkLocalUnicast():
			// the kernel's own IPv6 link-local address
		default:
			return fmt.Errorf("bridge %s: %w", name, cerrdefs.ErrConflict.WithMessage(
				fmt.Sprintf("bridge %s has address %s, not %s: remove it or choose another bridge", name, p, gateway)))
		}
	}
	if !have {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(gateway)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("bridge %s: add address %s: %w", name, gateway, err)
		}
	}
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("bridge %s: set MTU %d: %w", name, mtu, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s: set up: %w", name, err)
	}
	return nil
}

// DeleteBridge deletes the bridge name; a missing one is not an error. Its
// ports (the host sides of veth pairs) are detached by the kernel, not deleted.
func DeleteBridge(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("bridge %s: %w", name, cerrdefs.ErrConflict.WithMessage(
			fmt.Sprintf("interface %s is a %s, not a bridge", name, link.Type())))
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("bridge %s: delete: %w", name, err)
	}
	return nil
}

// EndpointOptions describe a container's interface on a bridge.
type EndpointOptions struct {
	IfName       string           // name in the container; default "eth0"
	Addr         netip.Prefix     // the container's address with the subnet's length, e.g. 172.17.0.2/16
	Gateway      netip.Addr       // default route via it; zero: none (--internal networks)
	MAC          net.HardwareAddr // default MACFromIP(Addr)
	MTU          int              // default: the bridge's MTU
	HostIfPrefix string           // host-side name prefix, at most 8 bytes; default "veth"
	Hairpin      bool             // let traffic leave and re-enter the same port (hairpin NAT without the userland proxy)
}

// ConnectContainer connects the network namespace at nsPath (e.g.
// /proc/<pid>/ns/net) to bridge and returns the host-side interface name,
// which the caller keeps for DisconnectContainer. The veth peer is created
// directly inside the container's namespace under its final name, MAC and
// MTU, so nothing of it ever appears in the host namespace; then it gets its
// address and is set up with lo, and the default route goes via the gateway.
// On failure everything is undone.
func ConnectContainer(h *netlink.Handle, bridge, nsPath string, opts EndpointOptions) (hostIf string, err error) {
	if opts.IfName == "" {
		opts.IfName = "eth0"
	}
	if opts.HostIfPrefix == "" {
		opts.HostIfPrefix = "veth"
	}
	if err := checkIfName(opts.IfName); err != nil {
		return "", fmt.Errorf("connect to %s: %w", bridge, err)
	}
	if len(opts.HostIfPrefix)+hostIfRandLen > maxIfName {
		return "", fmt.Errorf("connect to %s: %w", bridge, cerrdefs.ErrInvalidArgument.WithMessage(
			fmt.Sprintf("host interface prefix %q is longer than %d bytes", opts.HostIfPrefix, maxIfName-hostIfRandLen)))
	}
	if !opts.Addr.IsValid() {
		return "", fmt.Errorf("connect to %s: %w", bridge, cerrdefs.ErrInvalidArgument.WithMessage("no endpoint address"))
	}
	if opts.MAC == nil {
		opts.MAC = MACFromIP(opts.Addr.Addr())
	}
	br, err := h.LinkByName(bridge)
	if err != nil {
		if isNotFound(err) {
			err = cerrdefs.ErrNotFound.WithMessage("no such bridge")
		}
		return "", fmt.Errorf("connect to bridge %s: %w", bridge, err)
	}
	if br.Type() != "bridge" {
		return "", fmt.Errorf("connect to %s: %w", bridge, cerrdefs.ErrInvalidArgument.WithMessage(
			fmt.Sprintf("%s is a %s, not a bridge", bridge, br.Type())))
	}
	if opts.MTU <= 0 {
		opts.MTU = br.Attrs().MTU
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return "", fmt.Errorf("connect to %s: open network namespace %s: %w", bridge, nsPath, err)
	}
	defer ns.Close()

	name, err := addVeth(h, br, ns, opts)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", bridge, err)
	}
	if err := configurePeer(ns, opts); err != nil {
		_ = DisconnectContainer(h, name)
		return "", fmt.Errorf("connect to %s: in namespace %s: %w", bridge, nsPath, err)
	}
	return name, nil
}

// addVeth creates the pair: the host side attached to br and up, the peer
// inside ns. A clash of the random host-side name is retried; a clash of the
// peer's name in the container is the caller's error.
func addVeth(h *netlink.Handle, br netlink.Link, ns netns.NsHandle, opts EndpointOptions) (string, error) {
	for range 3 {
		la := netlink.NewLinkAttrs()
		la.Name = opts.HostIfPrefix + randomHex(hostIfRandLen)
		la.MTU = opts.MTU
		la.MasterIndex = br.Attrs().Index
		veth := &netlink.Veth{
			LinkAttrs:        la,
			PeerName:         opts.IfName,
			PeerHardwareAddr: opts.MAC,
			PeerNamespace:    netlink.NsFd(ns),
			PeerMTU:          uint32(opts.MTU),
			PeerTxQLen:       -1,
		}
		err := h.LinkAdd(veth)
		if errors.Is(err, unix.EEXIST) {
			if _, lerr := h.LinkByName(la.Name); lerr == nil {
				continue // our random name is taken on the host: draw again
			}
			return "", cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("interface %s already exists in the container's network namespace", opts.IfName))
		}
		if err == nil {
			err = setUpHostSide(h, la.Name, opts.Hairpin)
		}
		if err != nil {
			// LinkAdd may fail after creating the pair (setting the master).
			_ = DisconnectContainer(h, la.Name)
			return "", fmt.Errorf("create veth pair %s/%s: %w", la.Name, opts.IfName, err)
		}
		return la.Name, nil
	}
	return "", fmt.Errorf("create veth pair: no free host interface name with prefix %q", opts.HostIfPrefix)
}

func setUpHostSide(h *netlink.Handle, name string, hairpin bool) error {
	link, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if hairpin {
		if err := h.LinkSetHairpin(link, true); err != nil {
			return fmt.Errorf("set hairpin mode: %w", err)
		}
	}
	return h.LinkSetUp(link)
}

// configurePeer addresses the container's interface, sets it and lo up and
// adds the default route, through a netlink socket opened inside ns (no
// thread of ours ever switches namespace).
func configurePeer(ns netns.NsHandle, opts EndpointOptions) error {
	ch, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer ch.Close()
	link, err := ch.LinkByName(opts.IfName)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: ipNet(opts.Addr)}
	if opts.Addr.Addr().Is6() {
		addr.Flags = unix.IFA_F_NODAD // usable at once; the IPAM guarantees uniqueness
	}
	if err := ch.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add address %s to %s: %w", opts.Addr, opts.IfName, err)
	}
	if err := ch.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", opts.IfName, err)
	}
	if lo, err := ch.LinkByName("lo"); err != nil {
		return err
	} else if err := ch.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	if opts.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: opts.Gateway.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}
		if err := ch.RouteAdd(route); err != nil {
			return fmt.Errorf("add default route via %s: %w", opts.Gateway, err)
		}
	}
	return nil
}

// DisconnectContainer deletes the host side hostIf of a veth pair, which
// deletes its peer in the container too. A missing interface is not an
// error: the kernel deletes the pair itself when the container's namespace
// dies, so after a container exits there is usually nothing left to do.
func DisconnectContainer(h *netlink.Handle, hostIf string) error {
	link, err := h.LinkByName(hostIf)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", hostIf, err)
	}
	if link.Type() != "veth" {
		return fmt.Errorf("disconnect %s: %w", hostIf, cerrdefs.ErrInvalidArgument.WithMessage(
			fmt.Sprintf("%s is a %s, not a veth", hostIf, link.Type())))
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("disconnect %s: %w", hostIf, err)
	}
	return nil
}

// MACFromIP derives a container's MAC address from its IP as Docker does:
// 02:42 (locally administered, unicast) then the last four bytes of the
// address (all of an IPv4 one), so that an address and its MAC move together
// and neighbours' ARP caches stay right when an address is reused.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	b := ip.AsSlice()
	if len(b) < 4 {
		return nil
	}
	return append(net.HardwareAddr{0x02, 0x42}, b[len(b)-4:]...)
}

// ipForwardPath is the IPv4 forwarding switch of the caller's network
// namespace (it is per namespace).
const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// EnableForwarding turns IPv4 forwarding on in the network namespace of the
// calling thread, which bridged containers need to reach beyond the host. It
// is separate from EnsureBridge because it is a host-wide setting that the
// daemon turns on knowingly (and tests must not).
func EnableForwarding() error {
	cur, err := os.ReadFile(ipForwardPath)
	if err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(ipForwardPath, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

func checkIfName(name string) error {
	if name == "" || len(name) > maxIfName || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid interface name %q (at most %d bytes, no '/', ':' or spaces)", name, maxIfName))
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if a.Is4In6() {
		a = a.Unmap()
		if bits == 8*net.IPv6len {
			ones -= 96
		}
	}
	return netip.PrefixFrom(a, ones)
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// randomMAC is a random locally administered unicast address.
func randomMAC() net.HardwareAddr {
	b := make(net.HardwareAddr, 6)
	_, _ = rand.Read(b)
	b[0] = (b[0] &^ 0x01) | 0x02
	return b
}
