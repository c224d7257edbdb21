package dns

import (
	"net/netip"
	"strconv"
	"strings"
)

const (
	v4ReverseSuffix = ".in-addr.arpa."
	v6ReverseSuffix = ".ip6.arpa."
)

// parseReverse turns a full reverse name ("4.3.2.1.in-addr.arpa." or the 32
// nibbles of an ip6.arpa name) into its address. Partial names (a reverse
// zone rather than one host) are not addresses.
func parseReverse(name string) (netip.Addr, bool) {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	switch {
	case strings.HasSuffix(name, v4ReverseSuffix):
		labels := strings.Split(strings.TrimSuffix(name, v4ReverseSuffix), ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			if l == "" || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(name, v6ReverseSuffix):
		labels := strings.Split(strings.TrimSuffix(name, v6ReverseSuffix), ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			n, err := strconv.ParseUint(l, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			// labels[0] is the low nibble of the last byte.
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= byte(n) << 4
			} else {
				b[pos/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
