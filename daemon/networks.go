package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	networktypes "github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/network/ipam"
)

// openNetwork opens the network subsystem under <data-root>/network with
// the daemon's network settings.
func openNetwork(cfg config.Config, log *logrus.Logger) (*network.Controller, error) {
	nc := network.Config{
		Root:            filepath.Join(cfg.DataRoot, "network"),
		DefaultBridge:   cfg.Bridge,
		MTU:             cfg.MTU,
		ICC:             config.On(cfg.ICC),
		NoUserlandProxy: !config.On(cfg.UserlandProxy),
		NoForwarding:    !config.On(cfg.IPForward),
		NoFirewall:      !config.On(cfg.IPTables),
		Log:             log.WithField("subsystem", "network"),
	}
	if cfg.BIP != "" {
		p, err := netip.ParsePrefix(cfg.BIP)
		if err != nil {
			return nil, fmt.Errorf("invalid bip %q: %w", cfg.BIP, err)
		}
		nc.BIP = p
	}
	for _, p := range cfg.DefaultAddressPools {
		base, err := netip.ParsePrefix(p.Base)
		if err != nil {
			return nil, fmt.Errorf("invalid default-address-pools base %q: %w", p.Base, err)
		}
		nc.Pools = append(nc.Pools, ipam.Pool{Base: base, Size: p.Size})
	}
	c, err := network.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening the network subsystem: %w", err)
	}
	return c, nil
}

// The network routes' Backend (api/server/router/network): the Controller's
// networks and endpoints in Docker's wire types, Docker's filters, and the
// network events.

// NetworkCreate creates a bridge network (docker network create) and
// publishes its create event.
func (d *Daemon) NetworkCreate(ctx context.Context, req networktypes.CreateRequest) (networktypes.CreateResponse, error) {
	opts, err := createOptions(req)
	if err != nil {
		return networktypes.CreateResponse{}, err
	}
	if err := ctx.Err(); err != nil {
		return networktypes.CreateResponse{}, err
	}
	n, err := d.net.CreateNetwork(opts)
	if errors.Is(err, ipam.ErrPoolOverlap) {
		// Docker's words; the class (conflict) stays the ipam package's.
		err = &docMessage{msg: "invalid pool request: Pool overlaps with other one on this address space", err: err}
	}
	if err != nil {
		return networktypes.CreateResponse{}, err
	}
	d.logNetworkEvent(n, eventtypes.ActionCreate, nil)
	return networktypes.CreateResponse{ID: n.ID, Warning: ""}, nil
}

// docMessage shows err with Docker's message, keeping its chain (and so
// its errdefs class).
type docMessage struct {
	msg string
	err error
}

func (e *docMessage) Error() string { return e.msg }
func (e *docMessage) Unwrap() error { return e.err }

// createOptions turns a create request into the Controller's options,
// refusing what Berth does not do (IPv6, swarm scope, config-only networks,
// IPAM drivers, more than one subnet).
func createOptions(req networktypes.CreateRequest) (network.CreateOptions, error) {
	opts := network.CreateOptions{
		Name:     req.Name,
		Driver:   req.Driver,
		Internal: req.Internal,
		Labels:   req.Labels,
		Options:  req.Options,
	}
	if opts.Driver == "" {
		opts.Driver = network.DriverBridge
	}
	switch {
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return opts, invalidf("disabling IPv4 is not supported: networks are IPv4 networks")
	case req.EnableIPv6 != nil && *req.EnableIPv6:
		return opts, invalidf("IPv6 networks are not supported yet")
	case req.Scope != "" && req.Scope != "local":
		return opts, invalidf("scope %q is not supported: networks are local", req.Scope)
	case req.Ingress:
		return opts, invalidf("ingress networks are swarm networks, and swarm is not supported")
	case req.ConfigOnly || (req.ConfigFrom != nil && req.ConfigFrom.Network != ""):
		return opts, invalidf("config-only networks are not supported")
	}
	if ipam := req.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return opts, cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("could not find plugin %s in v1 plugin registry: plugin not found", ipam.Driver))
		}
		switch len(ipam.Config) {
		case 0:
		case 1:
			c := ipam.Config[0]
			if len(c.AuxAddress) > 0 {
				return opts, invalidf("auxiliary addresses are not supported")
			}
			opts.Subnet, opts.IPRange, opts.Gateway = c.Subnet, c.IPRange, c.Gateway
		default:
			return opts, invalidf("only one subnet per network is supported (got %d IPAM configs)", len(ipam.Config))
		}
	}
	return opts, nil
}

// NetworkInspect answers GET /networks/{id}. verbose is swarm's (ignored);
// a scope other than local finds nothing, as Docker's.
func (d *Daemon) NetworkInspect(ctx context.Context, name string, verbose bool, scope string) (networktypes.Inspect, error) {
	n, err := d.net.Network(name)
	if err == nil && scope != "" && scope != "local" {
		err = cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", name))
	}
	if err != nil {
		return networktypes.Inspect{}, err
	}
	eps, err := d.net.NetworkEndpoints(n.ID)
	if err != nil {
		return networktypes.Inspect{}, err
	}
	out := networktypes.Inspect{Network: toAPINetwork(n), Containers: make(map[string]networktypes.EndpointResource, len(eps))}
	for _, ep := range eps {
		r := networktypes.EndpointResource{Name: ep.Name, EndpointID: ep.ID, IPv4Address: ep.IP}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			r.MacAddress = networktypes.HardwareAddr(mac)
		}
		out.Containers[ep.ContainerID] = r
	}
	return out, nil
}

// toAPINetwork is n as Docker shows it; maps and lists are never null.
func toAPINetwork(n network.Network) networktypes.Network {
	out := networktypes.Network{
		Name:       n.Name,
		ID:         n.ID,
		Created:    n.Created,
		Scope:      "local",
		Driver:     n.Driver,
		EnableIPv4: true,
		IPAM:       networktypes.IPAM{Driver: "default", Options: map[string]string{}, Config: []networktypes.IPAMConfig{}},
		Internal:   n.Internal,
		Options:    n.Options,
		Labels:     n.Labels,
	}
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, networktypes.IPAMConfig{Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway})
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// NetworkList answers GET /networks with Docker's filters (the router has
// validated them): driver, id and name (regular expression or substring),
// label, scope, type (builtin or custom) and dangling (no endpoints, not
// builtin).
func (d *Daemon) NetworkList(ctx context.Context, f filters.Args) ([]networktypes.Summary, error) {
	dangling, err := f.Bool("dangling", false)
	if err != nil {
		return nil, err
	}
	out := []networktypes.Summary{}
	for _, n := range d.net.Networks() {
		if !f.ExactMatch("driver", n.Driver) || !f.Match("id", n.ID) || !f.Match("name", n.Name) ||
			!f.MatchKVList("label", n.Labels) || !f.ExactMatch("scope", "local") {
			continue
		}
		if !f.ExactMatch("type", networkType(n)) {
			continue
		}
		if f.Has("dangling") {
			eps, err := d.net.NetworkEndpoints(n.ID)
			if err != nil {
				continue // removed meanwhile
			}
			if isDangling := !n.Predefined() && len(eps) == 0; isDangling != dangling {
				continue
			}
		}
		out = append(out, networktypes.Summary{Network: toAPINetwork(n)})
	}
	return out, nil
}

// networkType is the value of the type filter n matches.
func networkType(n network.Network) string {
	if n.Predefined() {
		return "builtin"
	}
	return "custom"
}

// NetworkRemove removes a user network without endpoints and publishes its
// destroy event.
func (d *Daemon) NetworkRemove(ctx context.Context, name string) error {
	n, err := d.net.Network(name)
	if err != nil {
		return err
	}
	if err := d.net.RemoveNetwork(n.ID); err != nil {
		return err
	}
	d.logNetworkEvent(n, eventtypes.ActionDestroy, nil)
	return nil
}

// NetworksPrune removes the user networks that have no endpoints and match
// the filters (until, label, label!), each with its destroy event, then
// publishes a prune event. A network that gained an endpoint meanwhile is
// kept.
func (d *Daemon) NetworksPrune(ctx context.Context, f filters.Args) (networktypes.PruneReport, error) {
	until, err := untilFilter(f)
	if err != nil {
		return networktypes.PruneReport{}, err
	}
	rep := networktypes.PruneReport{NetworksDeleted: []string{}}
	for _, n := range d.net.Networks() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if n.Predefined() || (!until.IsZero() && n.Created.After(until)) || !f.MatchKVList("label", n.Labels) {
			continue
		}
		if excludedByLabel(f, n.Labels) {
			continue
		}
		if eps, err := d.net.NetworkEndpoints(n.ID); err != nil || len(eps) > 0 {
			continue
		}
		if err := d.net.RemoveNetwork(n.ID); err != nil {
			if !cerrdefs.IsConflict(err) && !cerrdefs.IsNotFound(err) {
				d.log.WithError(err).WithField("network", n.Name).Warn("network prune")
			}
			continue
		}
		d.logNetworkEvent(n, eventtypes.ActionDestroy, nil)
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	d.events.Log(eventtypes.NetworkEventType, eventtypes.ActionPrune, "", map[string]string{"reclaimed": "0"})
	return rep, nil
}

// excludedByLabel reports whether one of the label! filters ("k" or "k=v")
// holds in labels.
func excludedByLabel(f filters.Args, labels map[string]string) bool {
	for _, l := range f.Get("label!") {
		if (filters.Args{"l": {l: true}}).MatchKVList("l", labels) {
			return true
		}
	}
	return false
}

// logNetworkEvent publishes a network event with Docker's attributes: the
// network's name and type (its driver), plus extra.
func (d *Daemon) logNetworkEvent(n network.Network, action eventtypes.Action, extra map[string]string) {
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Log(eventtypes.NetworkEventType, action, n.ID, attrs)
}

// Messages of Docker's refusals to connect (runconfig's errors).
const (
	msgSharedNetwork = "container sharing network namespace with another container or host cannot be connected to any other network"
	msgNoNetwork     = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)

// NetworkConnect connects a container to a network (docker network
// connect). A running container gets the interface in its live namespace
// (eth1, eth2...), its address in /etc/hosts and, on its first user
// network, the embedded DNS; either way the network is recorded with its
// endpoint settings (aliases, --ip) for the container's next starts, as
// Docker records it in its NetworkSettings.
func (d *Daemon) NetworkConnect(ctx context.Context, name string, req networktypes.ConnectRequest) error {
	c, err := d.getContainer(req.Container)
	if err != nil {
		return err
	}
	n, err := d.net.Network(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Removing || c.State.Dead {
		return conflictf("container %s is marked for removal and cannot be connected or disconnected to the network", c.ID)
	}
	es := req.EndpointConfig
	if err := d.checkConnect(c, n, es); err != nil {
		return err
	}
	live := liveNetns(c)
	if d.configuredFor(c, n) != "" {
		if live && d.endpointOn(c, n) != nil {
			return cerrdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", strings.TrimPrefix(c.Name, "/"), n.Name))
		}
		if !live {
			return nil // already recorded: Docker keeps the recorded settings
		}
	}
	if es == nil {
		es = &networktypes.EndpointSettings{}
	} else {
		es = es.Copy()
	}
	if live {
		nsPath := netnsPath(c.State.Pid)
		ep, err := d.joinNetwork(ctx, c, n.ID, nsPath, es, nil)
		if err != nil {
			return err
		}
		if err := d.ensureResolver(c, nsPath); err != nil {
			d.log.WithError(err).WithField("container", container.ShortID(c.ID)).Warn("starting the container's embedded DNS")
		}
		if err := d.recordConnect(c, n, es); err != nil {
			if lerr := d.leaveNetwork(ctx, c, ep); lerr != nil {
				d.log.WithError(lerr).WithField("container", container.ShortID(c.ID)).Warn("undoing a connect that could not be recorded")
			}
			return err
		}
		return nil
	}
	return d.recordConnect(c, n, es)
}

// liveNetns reports whether c has a network namespace to change now: it
// runs (paused or not). A restarting container joins at its next start.
// Caller holds c's lock.
func liveNetns(c *container.Container) bool {
	return c.State.Running && !c.State.Restarting && c.State.Pid > 0
}

// endpointOn is c's live endpoint on n, or nil.
func (d *Daemon) endpointOn(c *container.Container, n network.Network) *network.Endpoint {
	for _, ep := range d.net.Endpoints(c.ID) {
		if ep.NetworkID == n.ID {
			return &ep
		}
	}
	return nil
}

// recordConnect records n, with the endpoint settings es, among the
// networks c joins at start, and saves c. Caller holds c's lock.
func (d *Daemon) recordConnect(c *container.Container, n network.Network, es *networktypes.EndpointSettings) error {
	cfg := cloneNetworkingConfig(c.NetworkingConfig)
	key := n.Name
	left := c.LeftNetworkMode
	if ref := string(c.HostConfig.NetworkMode); left && d.sameNetwork(ref, n) {
		key, left = ref, false
	}
	cfg.EndpointsConfig[key] = es
	return d.saveNetworking(c, cfg, left)
}

// saveNetworking sets and saves c's recorded networks, leaving c as it was
// if the save fails. Caller holds c's lock.
func (d *Daemon) saveNetworking(c *container.Container, cfg *networktypes.NetworkingConfig, leftNetworkMode bool) error {
	prevCfg, prevLeft := c.NetworkingConfig, c.LeftNetworkMode
	c.NetworkingConfig, c.LeftNetworkMode = cfg, leftNetworkMode
	if err := d.rt.store.Save(c); err != nil {
		c.NetworkingConfig, c.LeftNetworkMode = prevCfg, prevLeft
		return err
	}
	return nil
}

func cloneNetworkingConfig(in *networktypes.NetworkingConfig) *networktypes.NetworkingConfig {
	out := &networktypes.NetworkingConfig{EndpointsConfig: map[string]*networktypes.EndpointSettings{}}
	if in != nil {
		for k, v := range in.EndpointsConfig {
			out.EndpointsConfig[k] = v
		}
	}
	return out
}

// checkConnect refuses what Docker refuses when connecting c to n. Caller
// holds c's lock.
func (d *Daemon) checkConnect(c *container.Container, n network.Network, es *networktypes.EndpointSettings) error {
	mode := c.HostConfig.NetworkMode
	if mode.IsContainer() {
		return invalidf(msgSharedNetwork)
	}
	if n.Predefined() && es != nil {
		if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
			return invalidf("user specified IP address is supported on user defined networks only")
		}
		if len(es.Aliases) > 0 {
			return invalidf("network-scoped alias is supported only for containers in user defined networks")
		}
	}
	if d.configuredFor(c, n) != "" {
		return nil
	}
	if mode.IsHost() || n.Driver == network.DriverHost {
		return invalidf(msgSharedNetwork)
	}
	if mode.IsNone() || n.Driver == network.DriverNull {
		return invalidf(msgNoNetwork)
	}
	if es != nil && es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() && !n.UserSubnet {
		return invalidf("user specified IP address is supported only when connecting to networks with user configured subnets")
	}
	return nil
}

// configuredFor returns how c's configuration names network n: its
// NetworkMode (unless disconnected from it), or a key of its
// NetworkingConfig; "" when it names it nowhere. Caller holds c's lock.
func (d *Daemon) configuredFor(c *container.Container, n network.Network) string {
	if ref := string(c.HostConfig.NetworkMode); ref != "" && !c.LeftNetworkMode && !containertypes.NetworkMode(ref).IsContainer() && d.sameNetwork(ref, n) {
		return ref
	}
	if c.NetworkingConfig != nil {
		for ref := range c.NetworkingConfig.EndpointsConfig {
			if d.sameNetwork(ref, n) {
				return ref
			}
		}
	}
	return ""
}

// sameNetwork reports whether ref (a name, an ID or an ID prefix) names n.
func (d *Daemon) sameNetwork(ref string, n network.Network) bool {
	if ref == n.Name || ref == n.ID {
		return true
	}
	o, err := d.net.Network(ref)
	return err == nil && o.ID == n.ID
}

// NetworkDisconnect disconnects a container from a network (docker network
// disconnect): a running container loses the interface at once; either
// way the network is forgotten for its next starts, the network of its
// --network included (HostConfig.NetworkMode stays, as Docker's).
func (d *Daemon) NetworkDisconnect(ctx context.Context, name string, req networktypes.DisconnectRequest) error {
	c, err := d.getContainer(req.Container)
	if err != nil {
		return err
	}
	n, err := d.net.Network(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Removing || c.State.Dead {
		return conflictf("container %s is marked for removal and cannot be connected or disconnected to the network", c.ID)
	}
	if n.Driver == network.DriverHost && c.HostConfig.NetworkMode.IsHost() {
		return invalidf("container cannot be disconnected from host network or connected to host network")
	}
	ref := d.configuredFor(c, n)
	var ep *network.Endpoint
	if liveNetns(c) {
		ep = d.endpointOn(c, n)
	}
	if ref == "" && ep == nil {
		return cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", c.ID, n.Name))
	}
	if ep != nil {
		if err := d.leaveNetwork(ctx, c, *ep); err != nil {
			return err
		}
	}
	cfg := cloneNetworkingConfig(c.NetworkingConfig)
	for k := range cfg.EndpointsConfig {
		if d.sameNetwork(k, n) {
			delete(cfg.EndpointsConfig, k)
		}
	}
	left := c.LeftNetworkMode
	if mode := string(c.HostConfig.NetworkMode); mode != "" && !containertypes.NetworkMode(mode).IsContainer() && d.sameNetwork(mode, n) {
		left = true
	}
	return d.saveNetworking(c, cfg, left)
}
