package network

import (
	"fmt"
	"net/netip"
	"sort"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/network/dns"
)

// ResolverAddr is where a container's embedded DNS listens, in its own
// network namespace (Docker's 127.0.0.11, port 53).
var ResolverAddr = netip.MustParseAddrPort("127.0.0.11:53")

// StartResolver starts the embedded DNS server of a container attached to
// user networks, listening on ResolverAddr inside the namespace at nsPath
// and forwarding what it does not know to upstreams (dns.Upstreams of the
// host's resolv.conf). It answers for the container's user networks, and
// follows its later Connects and Disconnects. Close it when the container
// stops (Close of the Controller closes it too). The daemon calls it after
// Connect, before the container's process runs, when one of the
// container's networks is a user network (see UserNetworks), and writes
// "nameserver 127.0.0.11" in the container's resolv.conf.
func (c *Controller) StartResolver(containerID, nsPath string, upstreams []netip.AddrPort) (*ResolverHandle, error) {
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if c.resolvers[containerID] != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("start resolver of container %s: %w", short(containerID),
			cerrdefs.ErrConflict.WithMessage("the container's embedded DNS is already running"))
	}
	r := dns.NewResolver(c.table, c.userNetworks(containerID), upstreams, dns.WithLogger(c.log.WithField("container", short(containerID))))
	c.resolvers[containerID] = r
	c.mu.Unlock()

	pc, l, err := dns.ListenInNetns(nsPath, ResolverAddr)
	if err == nil {
		err = r.Start(pc, l)
	}
	if err != nil {
		c.mu.Lock()
		if c.resolvers[containerID] == r {
			delete(c.resolvers, containerID)
		}
		c.mu.Unlock()
		return nil, fmt.Errorf("start resolver of container %s: %w", short(containerID), err)
	}
	return &ResolverHandle{c: c, id: containerID, r: r}, nil
}

// ResolverHandle is a running embedded DNS server; Close stops it.
type ResolverHandle struct {
	c  *Controller
	id string
	r  *dns.Resolver
}

// Close stops the resolver. Closing twice is harmless.
func (h *ResolverHandle) Close() error {
	h.c.mu.Lock()
	if h.c.resolvers[h.id] == h.r {
		delete(h.c.resolvers, h.id)
	}
	h.c.mu.Unlock()
	return h.r.Close()
}

// UserNetworks returns the names of the user-defined networks the container
// is attached to, which the embedded DNS serves; empty means the container
// gets the host's resolvers in its resolv.conf instead.
func (c *Controller) UserNetworks(containerID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userNetworks(containerID)
}

// userNetworks: see UserNetworks. c.mu is held.
func (c *Controller) userNetworks(containerID string) []string {
	var out []string
	for k, st := range c.endpoints {
		n := c.networks[k.network]
		if k.container == containerID && !st.busy && n != nil && n.Driver == DriverBridge && !n.Predefined() {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// updateResolver gives the container's running resolver its current
// networks. c.mu is held.
func (c *Controller) updateResolver(containerID string) {
	if r := c.resolvers[containerID]; r != nil {
		r.SetNetworks(c.userNetworks(containerID))
	}
}
