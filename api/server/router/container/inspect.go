package container

import (
	"net/netip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// legacyInspect is GET /containers/{id}/json as API versions before 1.52
// have it: NetworkSettings keeps the deprecated top-level fields, which
// describe the container's endpoint on the default "bridge" network. The
// Engine API module's types dropped them with v1.52, but docker-py, old
// compose files and scripts (`{{.NetworkSettings.IPAddress}}`) still read
// them, so they are put back on the wire here.
type legacyInspect struct {
	*container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

type legacyNetworkSettings struct {
	Bridge                 string
	SandboxID              string
	SandboxKey             string
	Ports                  network.PortMap
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []legacyAddress
	SecondaryIPv6Addresses []legacyAddress
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*network.EndpointSettings
}

// withLegacyNetworkSettings wraps c for clients before API 1.52.
func withLegacyNetworkSettings(c *container.InspectResponse) any {
	out := legacyInspect{InspectResponse: c}
	ns := c.NetworkSettings
	if ns == nil {
		return out
	}
	l := &legacyNetworkSettings{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	if ep := ns.Networks["bridge"]; ep != nil {
		l.EndpointID = ep.EndpointID
		l.Gateway = addrString(ep.Gateway)
		l.IPAddress = addrString(ep.IPAddress)
		l.IPPrefixLen = ep.IPPrefixLen
		l.GlobalIPv6Address = addrString(ep.GlobalIPv6Address)
		l.GlobalIPv6PrefixLen = ep.GlobalIPv6PrefixLen
		l.IPv6Gateway = addrString(ep.IPv6Gateway)
		l.MacAddress = ep.MacAddress.String()
	}
	out.NetworkSettings = l
	return out
}

// addrString is a as Docker printed these fields: "" when unset.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// legacyAddress is an entry of the (always empty) secondary address lists.
type legacyAddress struct {
	Addr      string
	PrefixLen int
}
