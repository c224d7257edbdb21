// Package firewall keeps Berth's packet filtering and NAT in an nftables table
// of its own, `table ip berth`, so that it never touches another table's
// chains (Docker's iptables chains, a host firewall) and can be replaced or
// removed as a whole.
//
// Layout (base chains, policy accept, and the regular chains they jump to):
//
//	prerouting  nat    hook prerouting  dstnat   fib daddr type local jump dnat
//	output      nat    hook output      -100     ip daddr != 127.0.0.0/8 fib daddr type local jump dnat
//	postrouting nat    hook postrouting srcnat   per network: masquerade outbound, masquerade hairpin
//	forward     filter hook forward     filter   jump isolation-1; jump ports; jump bridges
//	dnat        per mapping: [ip daddr H] tcp dport HP dnat to C:CP
//	isolation-1 per network: iifname B oifname != B jump isolation-2 (+ internal drops)
//	isolation-2 per network: oifname B drop
//	ports       per mapping: iifname != B oifname B ip daddr C tcp dport CP accept
//	bridges     per network: established accept, unpublished-port drop, icc drop
//
// Every per-network and per-mapping rule carries a comment naming its owner
// ("net:<name>", "port:<proto>:<hostip>:<hostport>:<ip>:<port>"), which is how
// one of them is removed without flushing the others; the kernel, not memory,
// says which rules exist.
//
// Loopback: the output chain leaves 127.0.0.0/8 alone, so `curl
// 127.0.0.1:hostPort` on the host is served by the userland proxy
// (network/portmap), as with Docker's default userland-proxy=true. This avoids
// route_localnet, which would let other machines reach services bound to
// 127.0.0.1. Traffic to the host's other addresses, from the host, from
// outside or from containers (hairpin), is DNATed.
//
// Other tables are only ever read: ForeignForwardDrops finds the forward
// chains that drop by policy (Docker's iptables FORWARD DROP), which drop
// containers' traffic whatever this table accepts, so that the daemon can
// say so.
//
// Only IPv4 is handled.
package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the name of Berth's table in the ip family.
const TableName = "berth"

// Chain names inside the berth table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	chainDNAT        = "dnat"
	chainIsolation1  = "isolation-1"
	chainIsolation2  = "isolation-2"
	chainPorts       = "ports"
	chainBridges     = "bridges"
)

// Network is a bridge network as the firewall sees it.
type Network struct {
	Name   string
	Bridge string       // Linux bridge interface, e.g. berth0
	Subnet netip.Prefix // IPv4 subnet of the bridge
	// Internal networks have no outside connectivity: traffic between the
	// bridge and any other interface is dropped, and nothing is masqueraded.
	Internal bool
	// ICC allows traffic between containers of the network (needs
	// br_netfilter to be enforced when false, as with Docker).
	ICC bool
	// Masquerade NATs traffic leaving the subnet through other interfaces,
	// and blocks direct (non-published) access to containers from outside.
	Masquerade bool
}

// Mapping is a published port: HostIP:HostPort/Proto forwarded to
// ContainerIP:ContainerPort on the network whose bridge is Bridge.
type Mapping struct {
	Proto         string     // "tcp" or "udp"
	HostIP        netip.Addr // zero (or 0.0.0.0) = every host address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
	Bridge        string
}

// Firewall is Berth's nftables table. Its methods are safe for concurrent use.
type Firewall struct {
	mu       sync.Mutex
	conn     *nftables.Conn
	table    *nftables.Table
	chains   map[string]*nftables.Chain
	networks map[string]Network   // by name
	mappings map[Mapping]struct{} // normalized
	closed   bool
}

// Option configures New.
type Option func(*options)

type options struct{ netnsFd int }

// WithNetNS makes the firewall program the network namespace behind fd
// instead of the caller's (tests use a scratch namespace).
func WithNetNS(fd int) Option { return func(o *options) { o.netnsFd = fd } }

// New (re)creates the berth table with its chains, in one netlink batch: an
// existing table, such as a crashed daemon's, is deleted and replaced
// atomically, so no packet ever sees half a ruleset.
func New(opts ...Option) (*Firewall, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	copts := []nftables.ConnOption{nftables.AsLasting()}
	if o.netnsFd > 0 {
		copts = append(copts, nftables.WithNetNSFd(o.netnsFd))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("firewall: netlink: %w", unavailable(err))
	}
	f := &Firewall{
		conn:     conn,
		table:    &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4},
		chains:   map[string]*nftables.Chain{},
		networks: map[string]Network{},
		mappings: map[Mapping]struct{}{},
	}
	// Add first so that the delete cannot fail on a missing table.
	conn.AddTable(f.table)
	conn.DelTable(f.table)
	conn.AddTable(f.table)

	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) {
		f.chains[name] = conn.AddChain(&nftables.Chain{
			Name: name, Table: f.table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept,
		})
	}
	base(chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	base(chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	base(chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	base(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	for _, name := range []string{chainDNAT, chainIsolation1, chainIsolation2, chainPorts, chainBridges} {
		f.chains[name] = conn.AddChain(&nftables.Chain{Name: name, Table: f.table})
	}

	f.add(chainPrerouting, "", join(fibDaddrLocal(), one(jump(chainDNAT))))
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	f.add(chainOutput, "", join(ipAddr(offDaddr, expr.CmpOpNeq, loopback), fibDaddrLocal(), one(jump(chainDNAT))))
	// Isolation first, so that established flows between networks are cut
	// too; then published ports; then each bridge's own policy.
	f.add(chainForward, "", one(jump(chainIsolation1)))
	f.add(chainForward, "", one(jump(chainPorts)))
	f.add(chainForward, "", one(jump(chainBridges)))

	if err := conn.Flush(); err != nil {
		_ = conn.CloseLasting()
		return nil, fmt.Errorf("firewall: create table ip %s: %w", TableName, unavailable(err))
	}
	return f, nil
}

// Close deletes the berth table and everything in it.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.conn.DelTable(f.table)
	err := f.conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		err = nil // already gone (someone ran nft flush ruleset)
	}
	if cerr := f.conn.CloseLasting(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("firewall: delete table ip %s: %w", TableName, unavailable(err))
	}
	return nil
}

// AddNetwork installs n's masquerade, isolation and icc rules.
func (f *Firewall) AddNetwork(n Network) error {
	if err := validNetwork(n); err != nil {
		return err
	}
	n.Subnet = n.Subnet.Masked()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if _, ok := f.networks[n.Name]; ok {
		return fmt.Errorf("firewall: network %q: %w", n.Name, cerrdefs.ErrConflict.WithMessage("already configured"))
	}
	for _, o := range f.networks {
		if o.Bridge == n.Bridge {
			return fmt.Errorf("firewall: network %q: bridge %s used by network %q: %w", n.Name, n.Bridge, o.Name, cerrdefs.ErrConflict)
		}
	}

	tag, b, subnet := netTag(n.Name), n.Bridge, n.Subnet
	// Traffic from this bridge to any other Berth bridge is dropped in
	// isolation-2 (Docker's two-stage isolation: O(networks) rules).
	f.add(chainIsolation1, tag, join(iif(b), oifNot(b), one(jump(chainIsolation2))))
	f.add(chainIsolation2, tag, join(oif(b), one(drop())))
	if n.Internal {
		f.add(chainIsolation1, tag, join(iif(b), oifNot(b), one(drop())))
		f.add(chainIsolation1, tag, join(iifNot(b), oif(b), one(drop())))
	}
	f.add(chainBridges, tag, join(oif(b), ctEstablished(), one(accept())))
	if n.Masquerade && !n.Internal {
		// Only published ports (accepted in "ports") may be reached from
		// outside; routing straight to a container IP is refused.
		f.add(chainBridges, tag, join(iifNot(b), oif(b), one(drop())))
	}
	if !n.ICC {
		f.add(chainBridges, tag, join(iif(b), oif(b), one(drop())))
	}
	if !n.Internal {
		// Hairpin: a container reaching a published port (its own or a
		// neighbour's) through a host address is DNATed back into the
		// bridge; masquerading makes the reply come back through the host
		// and its conntrack entry, even without br_netfilter.
		f.add(chainPostrouting, tag, join(oif(b), ipAddr(offSaddr, expr.CmpOpEq, subnet), ctDNAT(), one(masquerade())))
	}
	if n.Masquerade && !n.Internal {
		f.add(chainPostrouting, tag, join(ipAddr(offSaddr, expr.CmpOpEq, subnet), oifNot(b), one(masquerade())))
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: add network %q: %w", n.Name, unavailable(err))
	}
	f.networks[n.Name] = n
	return nil
}

// RemoveNetwork removes every rule AddNetwork installed for the network.
// Its port mappings should be removed first.
func (f *Firewall) RemoveNetwork(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if _, ok := f.networks[name]; !ok {
		return fmt.Errorf("firewall: network %q: %w", name, cerrdefs.ErrNotFound.WithMessage("not configured"))
	}
	if err := f.deleteTagged(netTag(name), chainIsolation1, chainIsolation2, chainBridges, chainPostrouting); err != nil {
		return fmt.Errorf("firewall: remove network %q: %w", name, err)
	}
	delete(f.networks, name)
	return nil
}

// AddPortMapping publishes m: DNAT from the host address (prerouting, and
// output for the host's own non-loopback traffic) and an accept in forward.
// Hairpin masquerade is per network (see AddNetwork).
func (f *Firewall) AddPortMapping(m Mapping) error {
	m, proto, err := normalize(m)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if _, ok := f.mappings[m]; ok {
		return fmt.Errorf("firewall: port mapping %s: %w", describe(m), cerrdefs.ErrConflict.WithMessage("already configured"))
	}
	var nw *Network
	for _, n := range f.networks {
		if n.Bridge == m.Bridge {
			nw = &n
			break
		}
	}
	if nw == nil {
		return fmt.Errorf("firewall: port mapping %s: %w", describe(m), cerrdefs.ErrNotFound.WithMessage("no network on bridge "+m.Bridge))
	}
	if !nw.Subnet.Contains(m.ContainerIP) {
		return fmt.Errorf("firewall: port mapping %s: %w", describe(m), cerrdefs.ErrInvalidArgument.WithMessage("container address not in "+nw.Subnet.String()))
	}

	tag := portTag(m)
	var dst []expr.Any
	if m.HostIP.IsValid() {
		dst = ipAddr(offDaddr, expr.CmpOpEq, netip.PrefixFrom(m.HostIP, 32))
	}
	f.add(chainDNAT, tag, join(dst, dport(proto, m.HostPort), dnatTo(m.ContainerIP, m.ContainerPort)))
	f.add(chainPorts, tag, join(iifNot(m.Bridge), oif(m.Bridge),
		ipAddr(offDaddr, expr.CmpOpEq, netip.PrefixFrom(m.ContainerIP, 32)),
		dport(proto, m.ContainerPort), one(accept())))
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: add port mapping %s: %w", describe(m), unavailable(err))
	}
	f.mappings[m] = struct{}{}
	return nil
}

// RemovePortMapping removes the rules AddPortMapping installed for m.
func (f *Firewall) RemovePortMapping(m Mapping) error {
	m, _, err := normalize(m)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if _, ok := f.mappings[m]; !ok {
		return fmt.Errorf("firewall: port mapping %s: %w", describe(m), cerrdefs.ErrNotFound.WithMessage("not configured"))
	}
	if err := f.deleteTagged(portTag(m), chainDNAT, chainPorts); err != nil {
		return fmt.Errorf("firewall: remove port mapping %s: %w", describe(m), err)
	}
	delete(f.mappings, m)
	return nil
}

// add queues a rule in chain, tagged with comment tag (none if empty).
func (f *Firewall) add(chain, tag string, exprs []expr.Any) {
	r := &nftables.Rule{Table: f.table, Chain: f.chains[chain], Exprs: exprs}
	if tag != "" {
		r.UserData = userdata.AppendString(nil, userdata.TypeComment, tag)
	}
	f.conn.AddRule(r)
}

// deleteTagged deletes, in one batch, the rules of chains whose comment is
// tag. Everything is listed before anything is queued, so a failed listing
// leaves no half-built batch behind on the connection.
func (f *Firewall) deleteTagged(tag string, chains ...string) error {
	var doomed []*nftables.Rule
	for _, name := range chains {
		rules, err := f.conn.GetRules(f.table, f.chains[name])
		if err != nil {
			return fmt.Errorf("list chain %s: %w", name, unavailable(err))
		}
		for _, r := range rules {
			if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && c == tag && r.Handle != 0 {
				r.Table, r.Chain = f.table, f.chains[name]
				doomed = append(doomed, r)
			}
		}
	}
	for _, r := range doomed {
		_ = f.conn.DelRule(r) // fails only for handle 0, excluded above
	}
	if err := f.conn.Flush(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (f *Firewall) usable() error {
	if f.closed {
		return fmt.Errorf("firewall: %w", cerrdefs.ErrUnavailable.WithMessage("closed"))
	}
	return nil
}

// netTag names a network's rules. nft comments are limited to 128 bytes, so
// long network names are replaced by a hash.
func netTag(name string) string {
	if len(name) > 100 {
		sum := sha256.Sum256([]byte(name))
		name = "sha256-" + hex.EncodeToString(sum[:16])
	}
	return "net:" + name
}

func portTag(m Mapping) string {
	host := "0.0.0.0"
	if m.HostIP.IsValid() {
		host = m.HostIP.String()
	}
	return fmt.Sprintf("port:%s:%s:%d:%s:%d", m.Proto, host, m.HostPort, m.ContainerIP, m.ContainerPort)
}

func describe(m Mapping) string {
	host := "0.0.0.0"
	if m.HostIP.IsValid() {
		host = m.HostIP.String()
	}
	return fmt.Sprintf("%s:%d -> %s:%d/%s", host, m.HostPort, m.ContainerIP, m.ContainerPort, m.Proto)
}

func validNetwork(n Network) error {
	var msg string
	switch {
	case n.Name == "":
		msg = "empty network name"
	case n.Bridge == "" || len(n.Bridge) >= unix.IFNAMSIZ:
		msg = fmt.Sprintf("invalid bridge name %q", n.Bridge)
	case !n.Subnet.IsValid() || !n.Subnet.Addr().Is4():
		msg = fmt.Sprintf("subnet %s is not an IPv4 prefix", n.Subnet)
	default:
		return nil
	}
	return fmt.Errorf("firewall: network %q: %w", n.Name, cerrdefs.ErrInvalidArgument.WithMessage(msg))
}

// normalize validates m and puts it in the form used as a map key: the
// unspecified host address is the zero Addr, 4in6 addresses are unmapped.
func normalize(m Mapping) (Mapping, byte, error) {
	m.HostIP, m.ContainerIP = m.HostIP.Unmap(), m.ContainerIP.Unmap()
	if m.HostIP.IsUnspecified() {
		m.HostIP = netip.Addr{}
	}
	var proto byte
	var msg string
	switch {
	case m.Proto == "tcp":
		proto = unix.IPPROTO_TCP
	case m.Proto == "udp":
		proto = unix.IPPROTO_UDP
	default:
		msg = fmt.Sprintf("unsupported protocol %q", m.Proto)
	}
	switch {
	case msg != "":
	case m.HostIP.IsValid() && !m.HostIP.Is4():
		msg = "host address " + m.HostIP.String() + " is not IPv4"
	case !m.ContainerIP.Is4():
		msg = fmt.Sprintf("container address %s is not IPv4", m.ContainerIP)
	case m.HostPort == 0 || m.ContainerPort == 0:
		msg = "port 0"
	case m.Bridge == "":
		msg = "no bridge"
	default:
		return m, proto, nil
	}
	return m, 0, fmt.Errorf("firewall: port mapping %s: %w", describe(m), cerrdefs.ErrInvalidArgument.WithMessage(msg))
}

// unavailable classifies a netlink failure: the kernel refused or could not
// be reached, which the caller cannot fix by changing its request.
func unavailable(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w: %w", cerrdefs.ErrPermissionDenied, err)
	}
	return fmt.Errorf("%w: %w", cerrdefs.ErrUnavailable, err)
}
