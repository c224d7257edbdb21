package ipam

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	bolt "go.etcd.io/bbolt"
)

// Pool is one entry of the daemon's default-address-pools: networks get
// subnets of prefix length Size carved out of Base.
type Pool struct {
	Base netip.Prefix
	Size int
}

// DefaultPools returns Docker's default-address-pools: 172.17.0.0/16 through
// 172.31.0.0/16 as /16s, then 192.168.0.0/16 split into /20s.
func DefaultPools() []Pool {
	var pools []Pool
	for i := 17; i <= 31; i++ {
		pools = append(pools, Pool{Base: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16), Size: 16})
	}
	return append(pools, Pool{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20})
}

// PickSubnet returns the first subnet of pools, in order, that overlaps
// neither avoid (typically HostPrefixes: the host's routes and addresses)
// nor the subnet of any network in the store. It reserves nothing: pass the
// result to AddNetwork, which refuses it with ErrPoolOverlap if a concurrent
// add took it first (pick again then).
func (s *Store) PickSubnet(pools []Pool, avoid []netip.Prefix) (netip.Prefix, error) {
	var taken []netip.Prefix
	for _, p := range avoid {
		if p = normPrefix(p); p.IsValid() {
			taken = append(taken, p.Masked())
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		nets, err := networksBucket(tx)
		if err != nil {
			return err
		}
		return nets.ForEachBucket(func(k []byte) error {
			cfg, err := readConfig(nets.Bucket(k))
			if err != nil {
				return fmt.Errorf("network %s: %w", k, err)
			}
			taken = append(taken, cfg.Subnet)
			return nil
		})
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ipam: pick subnet: %w", err)
	}
	for _, pool := range pools {
		base := normPrefix(pool.Base).Masked()
		if !base.IsValid() || pool.Size < base.Bits() || pool.Size > base.Addr().BitLen() {
			return netip.Prefix{}, fmt.Errorf("ipam: pick subnet: %w: pool %s with size %d", ErrInvalid, pool.Base, pool.Size)
		}
		if p, ok := firstFree(base, pool.Size, taken); ok {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("ipam: pick subnet: %w", ErrNoAvailablePool)
}

// firstFree walks base's subnets of length size, jumping past each taken
// prefix that overlaps the candidate, so the cost grows with the number of
// conflicts, not with the size of the pool.
func firstFree(base netip.Prefix, size int, taken []netip.Prefix) (netip.Prefix, bool) {
	c := netip.PrefixFrom(base.Addr(), size)
	for {
		i := slices.IndexFunc(taken, c.Overlaps)
		if i < 0 {
			return c, true
		}
		end := lastAddr(c)
		if t := taken[i]; t.Bits() < c.Bits() {
			end = lastAddr(t) // a larger taken prefix: skip all of it (it is aligned, so next is too)
		}
		next := end.Next()
		if !next.IsValid() || !base.Contains(next) {
			return netip.Prefix{}, false
		}
		c = netip.PrefixFrom(next, size)
	}
}

// HostPrefixes returns what a new network's subnet must not overlap in the
// network namespace of h (nil: the caller's): the destinations of its routes
// (the default route aside) and the prefixes of its interface addresses, so
// that a subnet in use by a LAN, a VPN or another bridge (Docker's docker0)
// is never picked.
func HostPrefixes(h *netlink.Handle) ([]netip.Prefix, error) {
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("ipam: host prefixes: %w", err)
		}
		defer h.Close()
	}
	var (
		routes []netlink.Route
		addrs  []netlink.Addr
		err    error
	)
	// A dump racing with a change is reported as interrupted: read again.
	for range 5 {
		if routes, err = h.RouteList(nil, netlink.FAMILY_ALL); err == nil {
			if addrs, err = h.AddrList(nil, netlink.FAMILY_ALL); err == nil {
				break
			}
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ipam: host prefixes: %w", err)
	}
	var out []netip.Prefix
	add := func(ip []byte, mask []byte) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		ones, bits := net.IPMask(mask).Size()
		if a.Is4In6() {
			a = a.Unmap()
			if bits == 128 {
				ones -= 96
			}
		}
		p, err := a.Prefix(ones)
		if err != nil || p.Bits() == 0 || slices.Contains(out, p) {
			return
		}
		out = append(out, p)
	}
	for _, r := range routes {
		if r.Dst != nil {
			add(r.Dst.IP, r.Dst.Mask)
		}
	}
	for _, a := range addrs {
		if a.IPNet != nil {
			add(a.IP, a.Mask)
		}
	}
	return out, nil
}
