package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/undo"
	"github.com/berth-engine/berth/network/bridge"
	"github.com/berth-engine/berth/network/firewall"
	"github.com/berth-engine/berth/network/portmap"
)

// EndpointConfig is a request to attach a container to a network.
type EndpointConfig struct {
	ContainerID string
	Name        string     // container name, without the leading "/"
	Aliases     []string   // network-scoped aliases (user networks only)
	StaticIP    netip.Addr // --ip (user networks only); zero: the next free
	// NsPath is the container's network namespace, /proc/<pid>/ns/net of
	// its init (created, not yet exec'd). Bridge networks only.
	NsPath string
	// Ports to publish; expand ranges before. Ignored on internal, host
	// and none networks, as Docker does.
	Ports []PortBinding
}

// Connect attaches a container to the network ref names. On a bridge
// network: an address from IPAM (owner: the container ID), a veth pair into
// the container's namespace (eth0, eth1... in the order of connects: the
// caller passes the namespace, this package picks the name), its published
// ports (firewall DNAT, host port reservation and userland proxy), and its
// names in the DNS table on user networks. Every step is undone if a later
// one fails. The endpoint is recorded last. On host and none networks the
// endpoint is only recorded: the daemon decides the namespace.
func (c *Controller) Connect(ctx context.Context, ref string, cfg EndpointConfig) (_ Endpoint, retErr error) {
	if cfg.ContainerID == "" {
		return Endpoint{}, errorf(ErrInvalid, "no container ID")
	}
	if err := ctx.Err(); err != nil {
		return Endpoint{}, err
	}
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return Endpoint{}, err
	}
	n, err := c.resolve(ref)
	if err != nil {
		c.mu.Unlock()
		return Endpoint{}, err
	}
	k := epKey{n.ID, cfg.ContainerID}
	if c.endpoints[k] != nil {
		c.mu.Unlock()
		return Endpoint{}, errorf(ErrEndpointExists, "endpoint with name %s already exists in network %s", cfg.Name, n.Name)
	}
	st := &epState{busy: true}
	if n.Driver == DriverBridge {
		// eth0, eth1...: the lowest name the container's other endpoints
		// do not use, reserved with the key.
		// The default route goes via the first network with a gateway.
		used := map[string]bool{}
		st.ep.DefaultRoute = !n.Internal
		for ok, o := range c.endpoints {
			if ok.container == cfg.ContainerID {
				used[o.ep.IfName] = true
				if o.ep.DefaultRoute {
					st.ep.DefaultRoute = false
				}
			}
		}
		for i := 0; ; i++ {
			if name := fmt.Sprintf("eth%d", i); !used[name] {
				st.ep.IfName = name
				break
			}
		}
	}
	c.endpoints[k] = st // reserves the key; RemoveNetwork sees it
	nw := *n
	c.mu.Unlock()

	ep := Endpoint{
		ID: newID(), NetworkID: nw.ID, NetworkName: nw.Name, ContainerID: cfg.ContainerID,
		Name: cfg.Name, Aliases: append([]string(nil), cfg.Aliases...), StaticIP: cfg.StaticIP.Unmap(),
		IfName: st.ep.IfName, DefaultRoute: st.ep.DefaultRoute,
	}
	var u undo.Stack
	defer u.Unwind(&retErr)
	u.Push(func() {
		c.mu.Lock()
		delete(c.endpoints, k)
		c.mu.Unlock()
	})
	wrap := func(err error) error {
		return fmt.Errorf("connect container %s to network %s: %w", short(cfg.ContainerID), nw.Name, err)
	}

	if nw.Driver == DriverBridge {
		if nw.Name == NameBridge && ep.StaticIP.IsValid() {
			return Endpoint{}, wrap(errorf(ErrInvalid, "user specified IP address is supported on user defined networks only"))
		}
		if ep.StaticIP.IsValid() && !nw.UserSubnet {
			return Endpoint{}, wrap(errorf(ErrInvalid, "user specified IP address is supported only when connecting to networks with user configured subnets"))
		}
		if nw.Name == NameBridge && len(ep.Aliases) > 0 {
			return Endpoint{}, wrap(errorf(ErrInvalid, "network-scoped alias is supported only for containers in user defined networks"))
		}
		if cfg.NsPath == "" {
			return Endpoint{}, wrap(errorf(ErrInvalid, "no network namespace"))
		}
		addr, err := c.ipam.Allocate(nw.ID, cfg.ContainerID, ep.StaticIP)
		if err != nil {
			return Endpoint{}, wrap(err)
		}
		u.Push(func() { _ = c.ipam.Release(nw.ID, addr) })
		ep.IP = netip.PrefixFrom(addr, nw.Subnet.Bits())
		if !nw.Internal {
			ep.Gateway = nw.Gateway
		}
		mac := bridge.MACFromIP(addr)
		ep.MAC = mac.String()
		opts := bridge.EndpointOptions{IfName: ep.IfName, Addr: ep.IP, MAC: mac, MTU: nw.MTU}
		if ep.DefaultRoute {
			opts.Gateway = ep.Gateway
		}
		ep.HostIf, err = bridge.ConnectContainer(c.h, nw.Bridge, cfg.NsPath, opts)
		if err != nil {
			return Endpoint{}, wrap(err)
		}
		u.Push(func() { _ = bridge.DisconnectContainer(c.h, ep.HostIf) })

		if !nw.Internal {
			for _, want := range cfg.Ports {
				p, unpublish, err := c.publish(&nw, addr, want)
				if err != nil {
					return Endpoint{}, wrap(err)
				}
				u.Push(unpublish)
				ep.Ports = append(ep.Ports, p.binding)
				if p.proxy != nil {
					st.proxies = append(st.proxies, p.proxy)
				}
			}
		}
	}
	if err := c.putEndpoint(&ep); err != nil {
		return Endpoint{}, wrap(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Close ran meanwhile: leave the record for the next New.
		for _, p := range st.proxies {
			_ = p.Close()
		}
		return Endpoint{}, wrap(ErrClosed)
	}
	st.ep, st.busy = ep, false
	c.addNames(&nw, &ep)
	c.updateResolver(cfg.ContainerID)
	return ep.clone(), nil
}

// published is one port published by publish.
type published struct {
	binding PortBinding // with the host port actually bound
	proxy   io.Closer   // nil when the proxy is off
}

// ephemeralAttempts bounds how many host ports publish tries for a binding
// without one (or with a range), as dockerd does: the allocator's probe
// finds a port free, but another process (another daemon's probe, an
// outgoing connection's source port in the same range) may bind it before
// the proxy does.
const ephemeralAttempts = 10

// publish reserves the host port of pb (an ephemeral one if 0), installs
// its DNAT and starts its proxy; the returned func undoes all of it (it is
// also what Disconnect runs, through unpublish).
func (c *Controller) publish(n *Network, ip netip.Addr, pb PortBinding) (published, func(), error) {
	if pb.Proto == "" {
		pb.Proto = "tcp"
	}
	if pb.HostIP.IsValid() && pb.HostIP.Unmap().IsUnspecified() {
		pb.HostIP = netip.Addr{}
	}
	pb.HostIP = pb.HostIP.Unmap()
	if pb.ContainerPort == 0 {
		return published{}, nil, errorf(ErrInvalid, "invalid container port 0")
	}
	for attempt := 1; ; attempt++ {
		pub, undo, err := c.publishOnce(n, ip, pb)
		chosen := pb.HostPort == 0 || pb.HostPortEnd > pb.HostPort // the allocator chose: it may choose again
		if err == nil || !chosen || attempt == ephemeralAttempts || !errors.Is(err, portmap.ErrPortInUse) {
			return pub, undo, err
		}
	}
}

// publishOnce is publish with pb normalized: one host port, one try.
func (c *Controller) publishOnce(n *Network, ip netip.Addr, pb PortBinding) (published, func(), error) {
	var port uint16
	err := c.inHostNS(func() (err error) {
		if pb.HostPortEnd > pb.HostPort && pb.HostPort != 0 {
			port, err = c.ports.AllocateRange(pb.Proto, pb.HostIP, pb.HostPort, pb.HostPortEnd)
		} else {
			port, err = c.ports.Allocate(pb.Proto, pb.HostIP, pb.HostPort)
		}
		return err
	})
	if err != nil {
		return published{}, nil, err
	}
	pb.HostPort, pb.HostPortEnd = port, 0
	m := firewall.Mapping{Proto: pb.Proto, HostIP: pb.HostIP, HostPort: port, ContainerIP: ip, ContainerPort: pb.ContainerPort, Bridge: n.Bridge}
	if err := c.fw.AddPortMapping(m); err != nil {
		c.ports.Release(pb.Proto, pb.HostIP, port)
		return published{}, nil, err
	}
	var proxy io.Closer
	if c.startProxy != nil {
		err = c.inHostNS(func() (err error) {
			proxy, err = c.startProxy(pb.Proto, pb.HostIP, port, ip, pb.ContainerPort)
			return err
		})
		if err != nil {
			_ = c.fw.RemovePortMapping(m)
			c.ports.Release(pb.Proto, pb.HostIP, port)
			return published{}, nil, err
		}
	}
	unpublish := func() {
		if proxy != nil {
			_ = proxy.Close()
		}
		_ = c.fw.RemovePortMapping(m)
		c.ports.Release(pb.Proto, pb.HostIP, port)
	}
	return published{binding: pb, proxy: proxy}, unpublish, nil
}

// unpublish undoes publish for a recorded binding (its proxy is closed by
// the caller).
func (c *Controller) unpublish(n *Network, ip netip.Addr, pb PortBinding) error {
	err := c.fw.RemovePortMapping(firewall.Mapping{Proto: pb.Proto, HostIP: pb.HostIP, HostPort: pb.HostPort,
		ContainerIP: ip, ContainerPort: pb.ContainerPort, Bridge: n.Bridge})
	if cerrdefs.IsNotFound(err) {
		err = nil // never restored
	}
	c.ports.Release(pb.Proto, pb.HostIP, pb.HostPort)
	return err
}

// Disconnect detaches a container from the network ref names, undoing
// Connect: DNS names, proxies, firewall rules and host ports, the veth pair
// (a namespace already gone took it along: not an error), the record, then
// the address. Failures of the kernel-side steps are returned, but the
// endpoint is gone anyway: what is left over is cleaned at the next New.
func (c *Controller) Disconnect(ctx context.Context, ref, containerID string) error {
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return err
	}
	n, err := c.resolve(ref)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	k := epKey{n.ID, containerID}
	st := c.endpoints[k]
	if st == nil {
		c.mu.Unlock()
		return errorf(ErrNoSuchEndpoint, "container %s is not connected to network %s", short(containerID), n.Name)
	}
	if st.busy {
		c.mu.Unlock()
		return fmt.Errorf("disconnect container %s from network %s: %w", short(containerID), n.Name,
			cerrdefs.ErrConflict.WithMessage("the endpoint is being connected or disconnected"))
	}
	st.busy = true
	nw, ep, proxies := *n, st.ep, st.proxies
	st.proxies = nil
	c.removeNames(&nw, &ep)
	c.mu.Unlock()
	return c.teardown(&nw, ep, proxies)
}

// teardown undoes an endpoint (see Disconnect) and forgets it.
func (c *Controller) teardown(n *Network, ep Endpoint, proxies []io.Closer) error {
	var errs []error
	for _, p := range proxies {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, pb := range ep.Ports {
		if err := c.unpublish(n, ep.IP.Addr(), pb); err != nil {
			errs = append(errs, err)
		}
	}
	if ep.HostIf != "" {
		if err := bridge.DisconnectContainer(c.h, ep.HostIf); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.deleteEndpoint(n.ID, ep.ContainerID); err != nil {
		// Keep it in memory: the record still says it exists.
		c.mu.Lock()
		if st := c.endpoints[epKey{n.ID, ep.ContainerID}]; st != nil {
			st.busy = false
			c.addNames(n, &ep)
		}
		c.mu.Unlock()
		return fmt.Errorf("disconnect container %s from network %s: %w", short(ep.ContainerID), n.Name, err)
	}
	if ep.IP.IsValid() {
		if err := c.ipam.Release(n.ID, ep.IP.Addr()); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	delete(c.endpoints, epKey{n.ID, ep.ContainerID})
	c.updateResolver(ep.ContainerID)
	c.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disconnect container %s from network %s: %w", short(ep.ContainerID), n.Name, err)
	}
	return nil
}

// Endpoints returns the container's endpoints, by network name.
func (c *Controller) Endpoints(containerID string) []Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Endpoint
	for k, st := range c.endpoints {
		if k.container == containerID && !st.busy {
			out = append(out, st.ep.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NetworkName < out[j].NetworkName })
	return out
}

// NetworkEndpoints returns the endpoints of the network ref names (inspect's
// Containers), by container name.
func (c *Controller) NetworkEndpoints(ref string) ([]Endpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	var out []Endpoint
	for k, st := range c.endpoints {
		if k.network == n.ID && !st.busy {
			out = append(out, st.ep.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Reconcile disconnects every endpoint whose container alive says is gone
// (or not running: a stopped container holds no endpoint). The daemon calls
// it at start, once its containers are restored.
func (c *Controller) Reconcile(ctx context.Context, alive func(containerID string) bool) error {
	c.mu.Lock()
	var doomed []epKey
	for k, st := range c.endpoints {
		if !st.busy && !alive(k.container) {
			doomed = append(doomed, k)
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, k := range doomed {
		c.log.WithField("container", short(k.container)).WithField("network", k.network).Info("releasing the endpoint of a container that is gone")
		err := c.Disconnect(ctx, k.network, k.container)
		if err != nil && !errors.Is(err, ErrNoSuchEndpoint) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// addNames registers ep's names on a user network: its name, aliases and
// short ID. c.mu is held.
func (c *Controller) addNames(n *Network, ep *Endpoint) {
	if n.Driver != DriverBridge || n.Predefined() || !ep.IP.IsValid() {
		return
	}
	addrs := []netip.Addr{ep.IP.Addr()}
	c.table.Add(n.Name, ep.Name, addrs)
	for _, a := range ep.Aliases {
		c.table.AddAlias(n.Name, a, addrs)
	}
	c.table.AddAlias(n.Name, short(ep.ContainerID), addrs)
}

// removeNames undoes addNames. c.mu is held.
func (c *Controller) removeNames(n *Network, ep *Endpoint) {
	if n.Driver != DriverBridge || n.Predefined() || !ep.IP.IsValid() {
		return
	}
	a := ep.IP.Addr()
	c.table.Remove(n.Name, ep.Name, a)
	for _, al := range ep.Aliases {
		c.table.Remove(n.Name, al, a)
	}
	c.table.Remove(n.Name, short(ep.ContainerID), a)
}

// short is a container ID as Docker prints it (and as DNS answers it).
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
