package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/network/bridge"
	"github.com/berth-engine/berth/network/ipam"
)

// CreateOptions is a network create request (docker network create).
type CreateOptions struct {
	Name     string
	Driver   string       // "bridge" when empty; "host" and "null" are builtin only
	Subnet   netip.Prefix // zero: picked from the pools
	IPRange  netip.Prefix // needs Subnet
	Gateway  netip.Addr   // needs Subnet; zero: the subnet's first address
	Internal bool
	Labels   map[string]string
	// Options are the driver options (-o): OptBridgeName, OptICC,
	// OptMasquerade and OptMTU are understood, others are kept as given.
	Options map[string]string
}

// CreateNetwork creates a bridge network: its IPAM entry, its record, its
// Linux bridge ("br-" and the first 12 characters of its ID unless
// OptBridgeName names it) and its firewall rules; every step is undone if a
// later one fails. The network's Options are the -o options as given (Docker
// shows {} without -o); the bridge's name is kept in Network.Bridge.
func (c *Controller) CreateNetwork(req CreateOptions) (_ Network, retErr error) {
	n, err := c.checkCreate(req)
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return Network{}, err
	}
	if c.byName(n.Name) != nil {
		return Network{}, errorf(ErrNetworkExists, "network with name %s already exists", n.Name)
	}
	if n.Bridge == "" {
		n.Bridge = "br-" + n.ID[:12]
	}
	for _, o := range c.networks {
		if o.Bridge == n.Bridge {
			return Network{}, fmt.Errorf("create network %s: %w", n.Name,
				errorf(ErrNetworkExists, "bridge name %s is already in use by network %s", n.Bridge, o.Name))
		}
	}

	var in ipam.Network
	if n.UserSubnet {
		in, err = c.ipam.AddNetwork(n.ID, n.Subnet, n.IPRange, n.Gateway)
	} else {
		in, err = c.addPickedSubnet(n.ID, netip.Prefix{}, netip.Addr{})
	}
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	defer func() {
		if retErr != nil {
			_ = c.ipam.RemoveNetwork(n.ID)
		}
	}()
	n.Subnet, n.IPRange, n.Gateway = in.Subnet, in.IPRange, in.Gateway

	if err := c.putNetwork(n); err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	defer func() {
		if retErr != nil {
			_ = c.deleteNetwork(n.ID)
		}
	}()
	if err := bridge.EnsureBridge(c.h, n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), n.MTU); err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	defer func() {
		if retErr != nil {
			_ = bridge.DeleteBridge(c.h, n.Bridge)
		}
	}()
	if err := c.fw.AddNetwork(fwNetwork(n)); err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	c.networks[n.ID] = n
	c.log.WithField("network", n.Name).WithField("subnet", n.Subnet).Debug("network created")
	return n.clone(), nil
}

// checkCreate validates req and returns the network it asks for, without
// its bridge name default and addresses filled in.
func (c *Controller) checkCreate(req CreateOptions) (*Network, error) {
	switch req.Driver {
	case "", DriverBridge:
	case DriverHost, DriverNull:
		return nil, errorf(ErrOneInstance, "only one instance of %q network is allowed", req.Driver)
	default:
		return nil, errorf(ErrNoSuchDriver, "could not find plugin %s in v1 plugin registry: plugin not found", req.Driver)
	}
	switch {
	case req.Name == "":
		return nil, errorf(ErrInvalid, "network name is empty")
	case req.Name == NameBridge || req.Name == NameHost || req.Name == NameNone:
		return nil, errorf(ErrPredefined, "%s is a pre-defined network and cannot be created", req.Name)
	case strings.ContainsAny(req.Name, "/:"):
		return nil, errorf(ErrInvalid, "invalid network name %q", req.Name)
	}
	n := &Network{
		ID:         newID(),
		Name:       req.Name,
		Driver:     DriverBridge,
		Created:    time.Now().UTC(),
		Internal:   req.Internal,
		ICC:        true,
		Masquerade: true,
		MTU:        c.cfg.MTU,
		Labels:     cloneMap(req.Labels),
		Options:    cloneMap(req.Options),
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	for k, v := range n.Options {
		var err error
		switch k {
		case OptBridgeName:
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/: \t\n") {
				return nil, errorf(ErrInvalid, "invalid bridge name %q (at most 15 bytes, no '/', ':' or spaces)", v)
			}
			n.Bridge = v
		case OptICC:
			n.ICC, err = strconv.ParseBool(v)
		case OptMasquerade:
			n.Masquerade, err = strconv.ParseBool(v)
		case OptMTU:
			n.MTU, err = strconv.Atoi(v)
			if err == nil && (n.MTU < 68 || n.MTU > 65535) {
				err = errors.New("out of range")
			}
		}
		if err != nil {
			return nil, errorf(ErrInvalid, "invalid value %q for option %s", v, k)
		}
	}
	if n.Bridge == c.cfg.DefaultBridge {
		return nil, errorf(ErrInvalid, "bridge name %s is the default bridge's", n.Bridge)
	}
	if req.Subnet.IsValid() {
		n.Subnet, n.IPRange, n.Gateway, n.UserSubnet = req.Subnet, req.IPRange, req.Gateway, true
		if !req.Subnet.Addr().Is4() {
			return nil, errorf(ErrInvalid, "subnet %s: only IPv4 networks are supported", req.Subnet)
		}
	} else if req.IPRange.IsValid() || req.Gateway.IsValid() {
		return nil, errorf(ErrInvalid, "ip-range and gateway need a subnet")
	}
	return n, nil
}

// Network returns the network whose ID is ref, or whose name is ref, or
// whose ID starts with ref, in that order (Docker's resolution).
func (c *Controller) Network(ref string) (Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.resolve(ref)
	if err != nil {
		return Network{}, err
	}
	return n.clone(), nil
}

// resolve finds the network ref names. c.mu is held.
func (c *Controller) resolve(ref string) (*Network, error) {
	if ref == "" {
		return nil, errorf(ErrNoSuchNetwork, "network %s not found", ref)
	}
	if n := c.networks[ref]; n != nil {
		return n, nil
	}
	if n := c.byName(ref); n != nil {
		return n, nil
	}
	var found *Network
	matches := 0
	for id, n := range c.networks {
		if strings.HasPrefix(id, ref) {
			found = n
			matches++
		}
	}
	switch matches {
	case 0:
		return nil, errorf(ErrNoSuchNetwork, "network %s not found", ref)
	case 1:
		return found, nil
	}
	return nil, errorf(ErrAmbiguous, "network %s is ambiguous (%d matches found based on ID prefix)", ref, matches)
}

// Networks returns every network, by name.
func (c *Controller) Networks() []Network {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Network
	for _, n := range c.sortedNetworks() {
		out = append(out, n.clone())
	}
	return out
}

// RemoveNetwork removes a user network that has no endpoints: its firewall
// rules, its bridge, its record and its IPAM entry, in that order.
func (c *Controller) RemoveNetwork(ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	n, err := c.resolve(ref)
	if err != nil {
		return err
	}
	if n.Predefined() {
		return errorf(ErrPredefined, "%s is a pre-defined network and cannot be removed", n.Name)
	}
	if c.hasEndpoints(n.ID) {
		return errorf(ErrActiveEndpoints, "error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
	}
	if err := c.fw.RemoveNetwork(n.Name); err != nil && !cerrdefs.IsNotFound(err) {
		// Not found: its restore failed, nothing to remove. Otherwise the
		// rules stay until the table is recreated at the next start.
		c.log.WithError(err).WithField("network", n.Name).Warn("cannot remove the network's firewall rules")
	}
	if err := bridge.DeleteBridge(c.h, n.Bridge); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	if err := c.dropNetwork(n); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	return nil
}
