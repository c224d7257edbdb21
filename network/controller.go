// Package network is Berth's network controller: the networks (drivers
// bridge, host and null), the endpoints that attach containers to them, and
// the state behind both, composed from the library packages:
//
//   - ipam: subnets and addresses, persisted in <root>/ipam.db;
//   - bridge: the Linux bridges and the containers' veth pairs (netlink);
//   - firewall: the nftables table `ip berth` (masquerade, isolation, DNAT);
//   - portmap: host ports of published container ports and the userland proxy;
//   - dns: the names the embedded DNS answers on user-defined networks.
//
// The Controller owns <root>/networks.db (schema in db.go) and is the only
// writer of ipam.db. It keeps no global state: the daemon makes one with New,
// uses it, and closes it. New rebuilds everything from disk: the builtin
// networks, the user networks' bridges, the firewall table, the port
// mappings and proxies of the endpoints that were recorded (live restore),
// and the DNS table; it releases addresses that no endpoint holds. It warns
// when another table's forward chain drops by policy (Docker's iptables
// FORWARD DROP), which would cut the containers' forwarded traffic.
//
// Which containers still exist is the daemon's knowledge, not this
// package's: the daemon calls Reconcile once it has restored its containers,
// and Disconnect when a container stops.
package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/internal/netnsdo"
	"github.com/berth-engine/berth/internal/txbatch"
	"github.com/berth-engine/berth/network/bridge"
	"github.com/berth-engine/berth/network/dns"
	"github.com/berth-engine/berth/network/firewall"
	"github.com/berth-engine/berth/network/ipam"
	"github.com/berth-engine/berth/network/portmap"
)

// Driver names.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the builtin networks.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// DefaultBridgeName is the Linux bridge of the default network.
const DefaultBridgeName = "berth0"

// Docker's bridge driver options understood by CreateNetwork.
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptICC        = "com.docker.network.bridge.enable_icc"
	OptMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	OptMTU        = "com.docker.network.driver.mtu"
	optDefault    = "com.docker.network.bridge.default_bridge"
	optHostIP     = "com.docker.network.bridge.host_binding_ipv4"
)

// Config configures New.
type Config struct {
	// Root holds networks.db and ipam.db, e.g. <data-root>/network.
	Root string
	// Netns is the network namespace the Controller programs (bridges,
	// firewall, host ports). Zero or negative: the caller's, which is what
	// the daemon passes; tests pass a scratch namespace.
	Netns netns.NsHandle
	// DefaultBridge is the Linux bridge of the default network "bridge";
	// empty means DefaultBridgeName, "none" disables the default network
	// (--bridge none).
	DefaultBridge string
	// BIP is the default bridge's gateway address and prefix (--bip, e.g.
	// 172.20.0.1/16); zero: reuse the bridge's address if it exists, else
	// pick a subnet from Pools that avoids the host's routes and addresses.
	BIP netip.Prefix
	// Pools are the default-address-pools; nil means ipam.DefaultPools().
	Pools []ipam.Pool
	// MTU of the default bridge and the default of user networks (0: the
	// kernel's, 1500).
	MTU int
	// ICC allows traffic between containers of the default bridge (--icc,
	// which defaults to true: the daemon passes true unless told otherwise).
	ICC bool
	// NoUserlandProxy disables the userland proxy (--userland-proxy=false).
	// The proxy is also off when Netns is set: portmap.StartProxy dials
	// containers from whatever namespace its goroutines run in, the
	// caller's, not Netns; published ports then work through DNAT only.
	NoUserlandProxy bool
	// NoFirewall leaves packet filtering and NAT alone (--iptables=false):
	// no Berth table, so published ports work only through the proxy and
	// containers reach beyond the host only if the administrator NATs them.
	NoFirewall bool
	// NoForwarding leaves net.ipv4.ip_forward alone (tests of the caller's
	// namespace; the daemon turns it on, as Docker does).
	NoForwarding bool
	// Log is where the Controller logs; nil: logrus' standard logger.
	Log *logrus.Entry
}

// Network is a network as recorded.
type Network struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Created    time.Time         `json:"created"`
	Subnet     netip.Prefix      `json:"subnet,omitzero"`  // bridge networks
	IPRange    netip.Prefix      `json:"ipRange,omitzero"` // zero: the whole subnet
	Gateway    netip.Addr        `json:"gateway,omitzero"`
	Bridge     string            `json:"bridge,omitempty"` // Linux bridge
	Internal   bool              `json:"internal,omitempty"`
	ICC        bool              `json:"icc,omitempty"`
	Masquerade bool              `json:"masquerade,omitempty"`
	MTU        int               `json:"mtu,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Options    map[string]string `json:"options,omitempty"` // as Docker shows them
	// UserSubnet says the subnet was given at create (IPAM config in inspect).
	UserSubnet bool `json:"userSubnet,omitempty"`
}

// Predefined reports whether n is one of the builtin networks.
func (n Network) Predefined() bool {
	return n.Name == NameBridge || n.Name == NameHost || n.Name == NameNone
}

func (n Network) clone() Network {
	n.Labels = cloneMap(n.Labels)
	n.Options = cloneMap(n.Options)
	return n
}

// PortBinding is a published port. In Connect's request HostPort 0 means an
// ephemeral port, and HostPortEnd above HostPort the first free port of
// that range (`-p 8000-8010:80`); in an Endpoint HostPort is the port
// actually bound.
type PortBinding struct {
	Proto         string     `json:"proto"`           // "tcp" or "udp"
	HostIP        netip.Addr `json:"hostIP,omitzero"` // zero: every address (0.0.0.0)
	HostPort      uint16     `json:"hostPort"`
	HostPortEnd   uint16     `json:"-"`
	ContainerPort uint16     `json:"containerPort"`
}

// Endpoint is a container's attachment to a network, as recorded.
type Endpoint struct {
	ID          string       `json:"id"`
	NetworkID   string       `json:"networkID"`
	NetworkName string       `json:"networkName"`
	ContainerID string       `json:"containerID"`
	Name        string       `json:"name"` // container name, without "/"
	Aliases     []string     `json:"aliases,omitempty"`
	StaticIP    netip.Addr   `json:"staticIP,omitzero"` // as asked (--ip)
	IP          netip.Prefix `json:"ip,omitzero"`       // address/subnet length; zero on host and none
	Gateway     netip.Addr   `json:"gateway,omitzero"`
	MAC         string       `json:"mac,omitempty"`
	IfName      string       `json:"ifName,omitempty"` // in the container: eth0, eth1...
	HostIf      string       `json:"hostIf,omitempty"` // host side of the veth pair
	// DefaultRoute: the container's default route goes via Gateway (the
	// first non-internal bridge network it was connected to).
	DefaultRoute bool          `json:"defaultRoute,omitempty"`
	Ports        []PortBinding `json:"ports,omitempty"`
}

func (e Endpoint) clone() Endpoint {
	e.Aliases = append([]string(nil), e.Aliases...)
	e.Ports = append([]PortBinding(nil), e.Ports...)
	return e
}

// epKey identifies an endpoint: one per container and network.
type epKey struct{ network, container string }

// epState is an endpoint and what lives only in memory for it.
type epState struct {
	ep      Endpoint
	proxies []io.Closer
	busy    bool // being connected or disconnected
}

// Controller is the network subsystem. Its methods are safe for concurrent use.
type Controller struct {
	cfg   Config
	log   *logrus.Entry
	h     *netlink.Handle // in cfg.Netns
	db    *bolt.DB
	tx    *txbatch.Committer
	ipam  *ipam.Store
	fw    rules
	ports *portmap.Allocator
	table *dns.Table
	// startProxy starts a published port's userland proxy
	// (portmap.StartProxy); nil when the proxy is off.
	startProxy func(proto string, hostIP netip.Addr, hostPort uint16, containerIP netip.Addr, containerPort uint16) (io.Closer, error)

	mu        sync.Mutex
	networks  map[string]*Network // by ID
	endpoints map[epKey]*epState
	resolvers map[string]*dns.Resolver // by container ID
	closed    bool
}

// New opens (creating if needed) the network state under cfg.Root and
// rebuilds the kernel state from it: see the package comment.
func New(cfg Config) (_ *Controller, retErr error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("network: %w", errorf(ErrInvalid, "no root directory"))
	}
	if cfg.DefaultBridge == "" {
		cfg.DefaultBridge = DefaultBridgeName
	}
	if cfg.Pools == nil {
		cfg.Pools = ipam.DefaultPools()
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	c := &Controller{
		cfg:       cfg,
		log:       cfg.Log.WithField("subsystem", "network"),
		table:     dns.NewTable(),
		networks:  map[string]*Network{},
		endpoints: map[epKey]*epState{},
		resolvers: map[string]*dns.Resolver{},
	}
	if !cfg.NoUserlandProxy && !foreignNS(cfg.Netns) {
		c.startProxy = func(proto string, hostIP netip.Addr, hostPort uint16, containerIP netip.Addr, containerPort uint16) (io.Closer, error) {
			return portmap.StartProxy(proto, hostIP, hostPort, containerIP, containerPort)
		}
	}
	defer func() {
		if retErr != nil {
			c.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	var err error
	path := filepath.Join(cfg.Root, "networks.db")
	if c.db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second}); err != nil {
		return nil, fmt.Errorf("network: open %s: %w", path, err)
	}
	if err := c.db.Update(initSchema); err != nil {
		return nil, fmt.Errorf("network: init %s: %w", path, err)
	}
	c.tx = txbatch.New(c.db)
	if c.ipam, err = ipam.Open(filepath.Join(cfg.Root, "ipam.db")); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if foreignNS(cfg.Netns) {
		c.h, err = netlink.NewHandleAt(cfg.Netns)
	} else {
		c.h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("network: netlink: %w", err)
	}
	var fw *firewall.Firewall
	if cfg.NoFirewall {
		c.fw = noRules{}
	} else {
		var fwOpts []firewall.Option
		if foreignNS(cfg.Netns) {
			fwOpts = append(fwOpts, firewall.WithNetNS(int(cfg.Netns)))
		}
		if fw, err = firewall.New(fwOpts...); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		c.fw = fw
	}
	if c.ports, err = portmap.NewAllocator(0, 0); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if !cfg.NoForwarding {
		if err := c.inHostNS(bridge.EnableForwarding); err != nil {
			c.log.WithError(err).Warn("containers on bridge networks will not reach beyond the host")
		}
	}
	if err := c.restore(); err != nil {
		return nil, fmt.Errorf("network: restore: %w", err)
	}
	if fw != nil {
		c.warnForwardDrops(fw)
	}
	return c, nil
}

// warnForwardDrops logs one warning if other tables' forward chains drop
// by policy (Docker's `iptables -P FORWARD DROP`), which silently cuts the
// containers' traffic beyond the host. Those tables are not Berth's to
// change, so it only says what the administrator can do.
func (c *Controller) warnForwardDrops(fw *firewall.Firewall) {
	drops, err := fw.ForeignForwardDrops()
	if err != nil {
		c.log.WithError(err).Warn("cannot check other tables' forward chains")
		return
	}
	if len(drops) == 0 {
		return
	}
	var bridges []string
	for _, n := range c.sortedNetworks() {
		switch {
		case n.Name == NameBridge:
			bridges = append([]string{n.Bridge}, bridges...) // the example's
		case n.Driver == DriverBridge:
			bridges = append(bridges, n.Bridge)
		}
	}
	c.log.Warn(firewall.ForwardDropWarning(drops, bridges))
}

// foreignNS reports whether h names a namespace other than the caller's.
func foreignNS(h netns.NsHandle) bool { return h > 0 }

// Close stops the proxies and embedded DNS servers and removes the firewall
// table; bridges and containers' interfaces stay (as Docker leaves docker0),
// so that containers of a live restore keep their addresses. The records
// stay: the next New restores them.
func (c *Controller) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.closeAll()
}

func (c *Controller) closeAll() error {
	var errs []error
	c.mu.Lock()
	for _, st := range c.endpoints {
		for _, p := range st.proxies {
			if err := p.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		st.proxies = nil
	}
	resolvers := c.resolvers
	c.resolvers = map[string]*dns.Resolver{}
	c.mu.Unlock()
	for _, r := range resolvers {
		if err := r.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.fw != nil {
		if err := c.fw.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ipam != nil {
		if err := c.ipam.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tx != nil {
		c.tx.Close()
	}
	if c.db != nil {
		if err := c.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.h != nil {
		c.h.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network: close: %w", err)
	}
	return nil
}

// Table is the embedded DNS' name table, kept up to date by Connect and
// Disconnect on user-defined networks.
func (c *Controller) Table() *dns.Table { return c.table }

// usable returns ErrClosed after Close. c.mu is held.
func (c *Controller) usable() error {
	if c.closed {
		return fmt.Errorf("network: %w", ErrClosed)
	}
	return nil
}

// inHostNS runs fn with the calling thread in cfg.Netns (directly if it is
// the caller's): for what binds sockets there (host ports, proxies) or writes
// its /proc/sys. If switching back fails the thread stays locked and dies
// with its goroutine instead of serving others in the wrong namespace.
func (c *Controller) inHostNS(fn func() error) error {
	if !foreignNS(c.cfg.Netns) {
		return fn()
	}
	return netnsdo.Do(c.cfg.Netns, fn)
}

// restore rebuilds the in-memory and kernel state from the records.
func (c *Controller) restore() error {
	nets, eps, err := c.load()
	if err != nil {
		return err
	}
	c.networks = nets
	for _, n := range nets {
		c.forgetGeneratedBridgeName(n)
	}
	if err := c.ensureBuiltins(); err != nil {
		return err
	}
	for _, n := range c.sortedNetworks() {
		if n.Driver != DriverBridge {
			continue
		}
		if err := c.plumbNetwork(n); err != nil {
			if n.Name == NameBridge {
				return err
			}
			// A user network whose bridge cannot be made is kept: its
			// record is the user's, and removing it stays possible.
			c.log.WithError(err).WithField("network", n.Name).Error("cannot restore network")
		}
	}
	for _, ep := range eps {
		if c.networks[ep.NetworkID] == nil {
			c.log.WithField("container", ep.ContainerID).WithField("network", ep.NetworkID).Warn("dropping endpoint of a missing network")
			_ = c.deleteEndpoint(ep.NetworkID, ep.ContainerID)
			continue
		}
		c.endpoints[epKey{ep.NetworkID, ep.ContainerID}] = &epState{ep: *ep}
	}
	if err := c.reconcileIPAM(); err != nil {
		return err
	}
	for _, st := range c.endpoints {
		n := c.networks[st.ep.NetworkID]
		c.addNames(n, &st.ep)
		st.ep.Ports, st.proxies = c.restorePorts(n, &st.ep)
	}
	return nil
}

// forgetGeneratedBridgeName removes from a user network's Options the
// generated bridge name ("br-" and its ID's first 12 characters) that
// earlier versions recorded there, so that inspect shows only the options
// given at create, as Docker does. Its Bridge keeps the name.
func (c *Controller) forgetGeneratedBridgeName(n *Network) {
	if n.Predefined() || len(n.ID) < 12 || n.Options[OptBridgeName] != "br-"+n.ID[:12] {
		return
	}
	delete(n.Options, OptBridgeName)
	if err := c.putNetwork(n); err != nil {
		c.log.WithError(err).WithField("network", n.Name).Warn("cannot record network")
	}
}

// restorePorts publishes ep's recorded ports again (the firewall table was
// recreated, the proxies died with the previous daemon). A port that cannot
// be had any more is logged and dropped from the endpoint.
func (c *Controller) restorePorts(n *Network, ep *Endpoint) ([]PortBinding, []io.Closer) {
	var kept []PortBinding
	var proxies []io.Closer
	for _, pb := range ep.Ports {
		p, _, err := c.publish(n, ep.IP.Addr(), pb)
		if err != nil {
			c.log.WithError(err).WithField("container", ep.ContainerID).Warn("cannot restore published port")
			continue
		}
		kept = append(kept, p.binding)
		if p.proxy != nil {
			proxies = append(proxies, p.proxy)
		}
	}
	if len(kept) != len(ep.Ports) {
		ep.Ports = kept
		if err := c.putEndpoint(ep); err != nil {
			c.log.WithError(err).Warn("cannot record endpoint")
		}
	}
	return kept, proxies
}

// reconcileIPAM makes ipam.db agree with the records: IPAM networks without
// a record are removed, addresses that no endpoint holds are released, and
// an endpoint's address missing from IPAM is allocated again.
func (c *Controller) reconcileIPAM() error {
	inIPAM, err := c.ipam.Networks()
	if err != nil {
		return err
	}
	for _, in := range inIPAM {
		if n := c.networks[in.ID]; n == nil || n.Driver != DriverBridge {
			c.log.WithField("network", in.ID).Info("removing stray IPAM network")
			if err := c.ipam.RemoveNetwork(in.ID); err != nil {
				return err
			}
		}
	}
	for _, n := range c.networks {
		if n.Driver != DriverBridge {
			continue
		}
		allocs, err := c.ipam.Allocations(n.ID)
		if err != nil {
			return err
		}
		held := map[netip.Addr]string{}
		for k, st := range c.endpoints {
			if k.network == n.ID && st.ep.IP.IsValid() {
				held[st.ep.IP.Addr()] = k.container
			}
		}
		for a, owner := range allocs {
			if held[a] != owner {
				c.log.WithField("network", n.Name).WithField("address", a).WithField("owner", owner).Info("releasing orphaned address")
				if err := c.ipam.Release(n.ID, a); err != nil {
					return err
				}
			}
		}
		for a, owner := range held {
			if allocs[a] != owner {
				if _, err := c.ipam.Allocate(n.ID, owner, a); err != nil {
					c.log.WithError(err).WithField("network", n.Name).Warn("cannot re-allocate an endpoint's address")
				}
			}
		}
	}
	return nil
}

// ensureBuiltins makes the records of bridge, host and none agree with cfg.
func (c *Controller) ensureBuiltins() error {
	for _, b := range []struct{ name, driver string }{{NameHost, DriverHost}, {NameNone, DriverNull}} {
		if c.byName(b.name) != nil {
			continue
		}
		n := &Network{ID: newID(), Name: b.name, Driver: b.driver, Created: time.Now().UTC()}
		if err := c.putNetwork(n); err != nil {
			return err
		}
		c.networks[n.ID] = n
	}
	old := c.byName(NameBridge)
	if c.cfg.DefaultBridge == "none" {
		if old != nil {
			c.log.Info("default bridge disabled: removing network bridge")
			return c.dropNetwork(old)
		}
		return nil
	}
	gw := c.cfg.BIP
	if !gw.IsValid() && old == nil {
		gw = c.existingBridgeAddr(c.cfg.DefaultBridge)
	}
	n := old
	if old != nil && (old.Bridge != c.cfg.DefaultBridge || (gw.IsValid() && (gw.Masked() != old.Subnet || gw.Addr() != old.Gateway))) {
		if c.hasEndpoints(old.ID) {
			c.log.Warn("default bridge configuration changed, but containers use it: keeping the previous one until they are gone")
		} else {
			if old.Bridge != c.cfg.DefaultBridge || gw.Addr() != old.Gateway {
				if err := bridge.DeleteBridge(c.h, old.Bridge); err != nil {
					return err
				}
			}
			if err := c.dropNetwork(old); err != nil {
				return err
			}
			n = nil
		}
	}
	if n == nil {
		n = &Network{Name: NameBridge, Driver: DriverBridge, Created: time.Now().UTC(), Bridge: c.cfg.DefaultBridge, Masquerade: true}
		if old != nil {
			n.ID = old.ID // stable across reconfigurations
		} else {
			n.ID = newID()
		}
		var in ipam.Network
		var err error
		if gw.IsValid() {
			in, err = c.ipam.AddNetwork(n.ID, gw.Masked(), netip.Prefix{}, gw.Addr())
		} else {
			in, err = c.addPickedSubnet(n.ID, netip.Prefix{}, netip.Addr{})
		}
		if err != nil {
			return fmt.Errorf("default bridge %s: %w", c.cfg.DefaultBridge, err)
		}
		n.Subnet, n.Gateway = in.Subnet, in.Gateway
	}
	n.ICC, n.MTU = c.cfg.ICC, c.cfg.MTU
	n.Options = map[string]string{
		optDefault:    "true",
		OptICC:        fmt.Sprint(n.ICC),
		OptMasquerade: "true",
		optHostIP:     "0.0.0.0",
		OptBridgeName: n.Bridge,
		OptMTU:        fmt.Sprint(mtuOr1500(n.MTU)),
	}
	if err := c.putNetwork(n); err != nil {
		return err
	}
	c.networks[n.ID] = n
	return nil
}

// existingBridgeAddr is the IPv4 address of an existing bridge name, to
// reuse as its gateway (Docker does so with docker0), or zero.
func (c *Controller) existingBridgeAddr(name string) netip.Prefix {
	link, err := c.h.LinkByName(name)
	if err != nil || link.Type() != "bridge" {
		return netip.Prefix{}
	}
	addrs, err := c.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	ones, _ := addrs[0].Mask.Size()
	if !ok {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, ones)
}

// addPickedSubnet records network id in IPAM on a subnet of the pools that
// avoids the host's routes and addresses, picking again if a concurrent add
// took it first.
func (c *Controller) addPickedSubnet(id string, ipRange netip.Prefix, gw netip.Addr) (ipam.Network, error) {
	for range 5 {
		avoid, err := ipam.HostPrefixes(c.h)
		if err != nil {
			return ipam.Network{}, err
		}
		subnet, err := c.ipam.PickSubnet(c.cfg.Pools, avoid)
		if err != nil {
			return ipam.Network{}, err
		}
		in, err := c.ipam.AddNetwork(id, subnet, ipRange, gw)
		if errors.Is(err, ipam.ErrPoolOverlap) {
			continue
		}
		return in, err
	}
	return ipam.Network{}, ipam.ErrNoAvailablePool
}

// plumbNetwork makes n's bridge and firewall rules exist.
func (c *Controller) plumbNetwork(n *Network) error {
	if err := bridge.EnsureBridge(c.h, n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), n.MTU); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := c.fw.AddNetwork(fwNetwork(n)); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

func fwNetwork(n *Network) firewall.Network {
	return firewall.Network{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal, ICC: n.ICC, Masquerade: n.Masquerade}
}

// dropNetwork forgets n: records (its endpoints' too), IPAM. Not the bridge.
func (c *Controller) dropNetwork(n *Network) error {
	if err := c.deleteNetwork(n.ID); err != nil {
		return err
	}
	delete(c.networks, n.ID)
	for k := range c.endpoints {
		if k.network == n.ID {
			delete(c.endpoints, k)
		}
	}
	if n.Driver == DriverBridge {
		if err := c.ipam.RemoveNetwork(n.ID); err != nil && !errors.Is(err, ipam.ErrNoSuchNetwork) {
			return err
		}
	}
	c.table.RemoveNetwork(n.Name)
	return nil
}

// byName returns the network called name, or nil. c.mu is held (or c is not
// shared yet).
func (c *Controller) byName(name string) *Network {
	for _, n := range c.networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// hasEndpoints reports whether network id has endpoints, even half made.
func (c *Controller) hasEndpoints(id string) bool {
	for k := range c.endpoints {
		if k.network == id {
			return true
		}
	}
	return false
}

func (c *Controller) sortedNetworks() []*Network {
	out := make([]*Network, 0, len(c.networks))
	for _, n := range c.networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mtuOr1500(m int) int {
	if m <= 0 {
		return 1500
	}
	return m
}

// rules is what the Controller needs of the firewall. With NoFirewall it
// is noRules, as dockerd with --iptables=false manages no rules at all.
type rules interface {
	AddNetwork(firewall.Network) error
	RemoveNetwork(name string) error
	AddPortMapping(firewall.Mapping) error
	RemovePortMapping(firewall.Mapping) error
	Close() error
}

type noRules struct{}

func (noRules) AddNetwork(firewall.Network) error        { return nil }
func (noRules) RemoveNetwork(string) error               { return nil }
func (noRules) AddPortMapping(firewall.Mapping) error    { return nil }
func (noRules) RemovePortMapping(firewall.Mapping) error { return nil }
func (noRules) Close() error                             { return nil }
