package ipam

import "net/netip"

// lastAddr is the highest address of p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case (i+1)*8 <= bits:
			// network byte: keep
		case i*8 >= bits:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> (bits - i*8)
		}
	}
}

// family names an address family in Docker's words.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// normPrefix unmaps IPv4-in-IPv6 so that 172.17.0.0/16 given either way is
// the same subnet.
func normPrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() || !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

// contains reports whether outer contains all of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}
