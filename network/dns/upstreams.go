package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"slices"
	"strings"
)

// Upstreams returns the resolvers named by the nameserver lines of a
// resolv.conf, on port 53, in file order, without duplicates. Lines that are
// comments (# or ;) or whose address does not parse are skipped. IPv6 zones
// ("fe80::1%eth0") are kept.
//
// Loopback nameservers (127.0.0.53 of systemd-resolved, a local dnsmasq) are
// kept too: the Resolver forwards from the daemon's own network namespace, the
// host's, where they are reachable, as Docker does. Only the listening sockets
// live in the container's namespace. Use NonLoopback for a list that must be
// reachable from inside a container, such as the resolv.conf written for a
// container on the default bridge, which has no embedded DNS.
func Upstreams(resolvConf []byte) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(resolvConf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap(), 53)
		if !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out
}

// NonLoopback returns upstreams without the loopback ones, which are not
// reachable from a container's network namespace.
func NonLoopback(upstreams []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, u := range upstreams {
		if !u.Addr().IsLoopback() {
			out = append(out, u)
		}
	}
	return out
}
