package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	networktypes "github.com/moby/moby/api/types/network"

	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/network/dns"
)

// A container's networking, between the container subsystem and the
// network Controller: at start, once the shim has created the container's
// init (its own network namespace, the program not yet running), the
// container is connected to the network its NetworkMode names (the default
// "bridge" or a user network), its ports published, its embedded DNS
// started on user networks and its /etc/hosts and /etc/resolv.conf
// rewritten; at exit all of it is released. Modes none, host and
// container:<x> have no endpoint: the runtime spec decides the namespace.

// defaultNetworkMode is the NetworkMode of a container created without one:
// "bridge", or "none" when the default network is disabled (--bridge none),
// as dockerd -b none.
func (d *Daemon) defaultNetworkMode() containertypes.NetworkMode {
	if _, err := d.net.Network(network.NameBridge); err != nil {
		return network.NameNone
	}
	return network.NameBridge
}

// hostGateway is the --add-host value that stands for the host's address
// as containers see it.
const hostGateway = "host-gateway"

// hostGatewayIP is what host-gateway means, as Docker's default: the
// default bridge's gateway, the host's address on berth0.
func (d *Daemon) hostGatewayIP() (netip.Addr, error) {
	n, err := d.net.Network(network.NameBridge)
	if err != nil || !n.Gateway.IsValid() {
		return netip.Addr{}, invalidf("unable to derive the IP value for host-gateway: the default bridge network is disabled (--bridge none)")
	}
	return n.Gateway, nil
}

// checkUserNetwork validates a NetworkMode that names a user network: it
// must exist (404 "network X not found").
func (d *Daemon) checkUserNetwork(ref string) error {
	n, err := d.net.Network(ref)
	if err != nil {
		return err
	}
	if n.Driver != network.DriverBridge {
		return invalidf("container cannot be connected to network %s: use --network %s", n.Name, n.Name)
	}
	return nil
}

// endpointNetwork is the network a container with mode connects to at
// start, or "" for none, host and container:<x>.
func endpointNetwork(mode containertypes.NetworkMode) string {
	switch m := string(mode); {
	case m == network.NameNone || m == network.NameHost || m == "" || strings.HasPrefix(m, "container:"):
		return ""
	default:
		return m
	}
}

// endpointSettings is the create request's endpoint configuration of the
// network ref names, or nil.
func endpointSettings(c *container.Container, ref string) *networktypes.EndpointSettings {
	if c.NetworkingConfig == nil {
		return nil
	}
	return c.NetworkingConfig.EndpointsConfig[ref]
}

// portsToPublish expands the container's port bindings (and, with -P, its
// exposed ports on ephemeral host ports) into the Controller's requests.
func portsToPublish(c *container.Container) ([]network.PortBinding, error) {
	var out []network.PortBinding
	bound := map[networktypes.Port]bool{}
	add := func(p networktypes.Port, b networktypes.PortBinding) error {
		proto := string(p.Proto())
		if proto != "tcp" && proto != "udp" {
			return invalidf("cannot publish port %s: only tcp and udp ports can be published", p)
		}
		pb := network.PortBinding{Proto: proto, HostIP: b.HostIP.Unmap(), ContainerPort: p.Num()}
		if hp := strings.TrimSpace(b.HostPort); hp != "" {
			// "8000-8010": the first free port of the range, as Docker's.
			lo, hi, isRange := strings.Cut(hp, "-")
			n, err := strconv.ParseUint(lo, 10, 16)
			if err != nil {
				return invalidf("invalid host port %q for port %s", hp, p)
			}
			pb.HostPort = uint16(n)
			if isRange {
				m, err := strconv.ParseUint(hi, 10, 16)
				if err != nil || m < n || n == 0 {
					return invalidf("invalid host port range %q for port %s", hp, p)
				}
				pb.HostPortEnd = uint16(m)
			}
		}
		out = append(out, pb)
		return nil
	}
	ports := make([]networktypes.Port, 0, len(c.HostConfig.PortBindings))
	for p := range c.HostConfig.PortBindings {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, comparePorts)
	for _, p := range ports {
		bound[p] = true
		bindings := c.HostConfig.PortBindings[p]
		if len(bindings) == 0 {
			bindings = []networktypes.PortBinding{{}}
		}
		for _, b := range bindings {
			if err := add(p, b); err != nil {
				return nil, err
			}
		}
	}
	if c.HostConfig.PublishAllPorts {
		for _, p := range exposedPorts(c) {
			if !bound[p] {
				if err := add(p, networktypes.PortBinding{}); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// extraNetworks are the names, in order, of the networks recorded in the
// container's endpoints config besides its primary one (host and none
// entries aside); one removed since is kept, so that the start fails with
// "network X not found", as Docker's.
func (d *Daemon) extraNetworks(c *container.Container, primaryID string) []string {
	if c.NetworkingConfig == nil {
		return nil
	}
	var out []string
	for name := range c.NetworkingConfig.EndpointsConfig {
		if n, err := d.net.Network(name); err == nil && (n.ID == primaryID || n.Driver != network.DriverBridge) {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// exposedPorts are the container's exposed and published ports, sorted.
func exposedPorts(c *container.Container) []networktypes.Port {
	set := map[networktypes.Port]bool{}
	for p := range c.Config.ExposedPorts {
		set[p] = true
	}
	for p := range c.HostConfig.PortBindings {
		set[p] = true
	}
	out := make([]networktypes.Port, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePorts)
	return out
}

func comparePorts(a, b networktypes.Port) int {
	if a.Num() != b.Num() {
		return int(a.Num()) - int(b.Num())
	}
	return strings.Compare(string(a.Proto()), string(b.Proto()))
}

// connectContainer attaches a starting container (its init is pid, created
// and not yet running) to the network of its NetworkMode, unless `docker
// network disconnect` took it off that one, and to the networks `docker
// network connect` recorded (eth1, eth2...; ports are published on the
// first network only, as Docker's). The returned undo releases everything
// it did. Caller holds c's lock.
func (d *Daemon) connectContainer(ctx context.Context, c *container.Container, pid int) (undo func(), retErr error) {
	var refs []string
	primaryID := ""
	if ref := endpointNetwork(c.HostConfig.NetworkMode); ref != "" && !c.LeftNetworkMode {
		refs = append(refs, ref)
		if n, err := d.net.Network(ref); err == nil {
			primaryID = n.ID
		}
	}
	if mode := c.HostConfig.NetworkMode; !mode.IsContainer() && !mode.IsHost() && !mode.IsNone() {
		refs = append(refs, d.extraNetworks(c, primaryID)...)
	}
	if len(refs) == 0 {
		return func() {}, nil
	}
	ports, err := portsToPublish(c)
	if err != nil {
		return nil, err
	}
	nsPath := netnsPath(pid)
	release := func() { d.disconnectContainer(c.ID) }
	defer func() {
		if retErr != nil {
			release()
		}
	}()
	for i, ref := range refs {
		if i > 0 {
			ports = nil
		}
		if _, err := d.joinNetwork(ctx, c, ref, nsPath, endpointSettings(c, ref), ports); err != nil {
			return nil, err
		}
	}
	if err := d.ensureResolver(c, nsPath); err != nil {
		return nil, err
	}
	return release, nil
}

// netnsPath is the network namespace of the container whose init is pid.
func netnsPath(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }

// joinNetwork connects c, whose network namespace is nsPath, to network ref
// with the endpoint settings es (aliases, --ip) and ports, adds its address
// to the container's /etc/hosts and publishes the network's connect event.
// Caller holds c's lock.
func (d *Daemon) joinNetwork(ctx context.Context, c *container.Container, ref, nsPath string, es *networktypes.EndpointSettings, ports []network.PortBinding) (network.Endpoint, error) {
	cfg := network.EndpointConfig{ContainerID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), NsPath: nsPath, Ports: ports}
	if es != nil {
		cfg.Aliases = es.Aliases
		if es.IPAMConfig != nil {
			cfg.StaticIP = es.IPAMConfig.IPv4Address
		}
	}
	ep, err := d.net.Connect(ctx, ref, cfg)
	if err != nil {
		return ep, err
	}
	if ep.IP.IsValid() {
		if err := d.addHostsEntry(c, ep.IP.Addr()); err != nil {
			if derr := d.net.Disconnect(ctx, ep.NetworkID, c.ID); derr != nil {
				d.log.WithError(derr).WithField("container", container.ShortID(c.ID)).Warn("releasing the endpoint of a failed connect")
			}
			return network.Endpoint{}, err
		}
	}
	d.logEndpointEvent(ep, eventtypes.ActionConnect)
	return ep, nil
}

// leaveNetwork disconnects c from the network of ep and removes its address
// from the container's /etc/hosts. Caller holds c's lock.
func (d *Daemon) leaveNetwork(ctx context.Context, c *container.Container, ep network.Endpoint) error {
	if err := d.net.Disconnect(ctx, ep.NetworkID, c.ID); err != nil {
		return err
	}
	if ep.IP.IsValid() {
		if err := d.removeHostsEntry(c, ep.IP.Addr()); err != nil {
			d.log.WithError(err).WithField("container", container.ShortID(c.ID)).Warn("removing the container's address from its /etc/hosts")
		}
	}
	d.logEndpointEvent(ep, eventtypes.ActionDisconnect)
	return nil
}

// logEndpointEvent publishes a network connect or disconnect event, with
// the container in its attributes as Docker's.
func (d *Daemon) logEndpointEvent(ep network.Endpoint, action eventtypes.Action) {
	n, err := d.net.Network(ep.NetworkID)
	if err != nil {
		n = network.Network{ID: ep.NetworkID, Name: ep.NetworkName}
	}
	d.logNetworkEvent(n, action, map[string]string{"container": ep.ContainerID})
}

// ensureResolver starts the container's embedded DNS, once it is on a user
// network, and points its resolv.conf at it; a running one learns of new
// networks from the Controller. Caller holds c's lock.
func (d *Daemon) ensureResolver(c *container.Container, nsPath string) error {
	if len(d.net.UserNetworks(c.ID)) == 0 {
		return nil
	}
	d.rt.mu.Lock()
	running := d.rt.resolvers[c.ID] != nil
	d.rt.mu.Unlock()
	if running {
		return nil
	}
	h, err := d.net.StartResolver(c.ID, nsPath, d.dnsUpstreams(c))
	if err != nil {
		return err
	}
	d.rt.mu.Lock()
	d.rt.resolvers[c.ID] = h
	d.rt.mu.Unlock()
	// The same file (and inode) the container has bound over its
	// /etc/resolv.conf.
	return os.WriteFile(c.ResolvConfPath, embeddedResolvConf(c), 0o644)
}

// addHostsEntry adds the container's address on a network to its
// /etc/hosts (the same file and inode it has bound), as Docker does for
// each network it joins.
func (d *Daemon) addHostsEntry(c *container.Container, ip netip.Addr) error {
	hosts, err := os.ReadFile(c.HostsPath)
	if err != nil {
		return err
	}
	hostname := c.Config.Hostname
	if c.Config.Domainname != "" {
		hostname = hostname + "." + c.Config.Domainname + " " + c.Config.Hostname
	}
	hosts = fmt.Appendf(hosts, "%s\t%s\n", ip, hostname)
	return os.WriteFile(c.HostsPath, hosts, 0o644)
}

// removeHostsEntry drops the lines addHostsEntry wrote for ip.
func (d *Daemon) removeHostsEntry(c *container.Container, ip netip.Addr) error {
	hosts, err := os.ReadFile(c.HostsPath)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(hosts), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		f := strings.Fields(l)
		return len(f) > 1 && f[0] == ip.String()
	})
	return os.WriteFile(c.HostsPath, []byte(strings.Join(lines, "")), 0o644)
}

// disconnectContainer stops the container's embedded DNS and releases
// every endpoint it holds (its namespace may be gone already: the veth went
// with it).
func (d *Daemon) disconnectContainer(id string) {
	d.rt.mu.Lock()
	r := d.rt.resolvers[id]
	delete(d.rt.resolvers, id)
	d.rt.mu.Unlock()
	log := d.log.WithField("container", container.ShortID(id))
	if r != nil {
		if err := r.Close(); err != nil {
			log.WithError(err).Debug("stopping the container's embedded DNS")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ep := range d.net.Endpoints(id) {
		if err := d.net.Disconnect(ctx, ep.NetworkID, id); err != nil && !errors.Is(err, network.ErrNoSuchEndpoint) {
			log.WithError(err).WithField("network", ep.NetworkName).Warn("releasing the container's endpoint")
			continue
		}
		d.logEndpointEvent(ep, eventtypes.ActionDisconnect)
	}
}

// restoreResolver restarts the embedded DNS of a live-restored container
// on user networks (its endpoints, ports and proxies the Controller
// restored itself).
func (d *Daemon) restoreResolver(c *container.Container, pid int) {
	if len(d.net.UserNetworks(c.ID)) == 0 {
		return
	}
	h, err := d.net.StartResolver(c.ID, netnsPath(pid), d.dnsUpstreams(c))
	if err != nil {
		d.log.WithError(err).WithField("container", container.ShortID(c.ID)).Warn("live-restore: restarting the container's embedded DNS")
		return
	}
	d.rt.mu.Lock()
	d.rt.resolvers[c.ID] = h
	d.rt.mu.Unlock()
}

// reconcileNetwork releases the endpoints of containers that no longer run
// (a crash, a container gone meanwhile), once the containers are restored.
func (d *Daemon) reconcileNetwork(ctx context.Context) {
	alive := map[string]bool{}
	for _, c := range d.rt.store.List() {
		c.Lock()
		if c.State.Running {
			alive[c.ID] = true
		}
		c.Unlock()
	}
	if err := d.net.Reconcile(ctx, func(id string) bool { return alive[id] }); err != nil {
		d.log.WithError(err).Warn("restore: releasing the endpoints of containers that are gone")
	}
}

// dnsUpstreams are where the embedded DNS forwards: the --dns servers, or
// the host's resolvers.
func (d *Daemon) dnsUpstreams(c *container.Container) []netip.AddrPort {
	if len(c.HostConfig.DNS) > 0 {
		var out []netip.AddrPort
		for _, a := range c.HostConfig.DNS {
			out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
		}
		return out
	}
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	return dns.Upstreams(host)
}

// embeddedResolvConf is the resolv.conf of a container on user networks:
// the embedded DNS, with the search domains and options asked or the
// host's.
func embeddedResolvConf(c *container.Container) []byte {
	var out strings.Builder
	out.WriteString("nameserver 127.0.0.11\n")
	search := c.HostConfig.DNSSearch
	var options []string
	if host, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(host), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && f[0] == "search" && len(c.HostConfig.DNSSearch) == 0 {
				search = f[1:]
			}
			if len(f) > 1 && f[0] == "options" && len(c.HostConfig.DNSOptions) == 0 {
				options = append(options, f[1:]...)
			}
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&out, "search %s\n", strings.Join(search, " "))
	}
	options = append(options, c.HostConfig.DNSOptions...)
	options = slices.DeleteFunc(options, func(o string) bool { return strings.HasPrefix(o, "ndots:") })
	out.WriteString("options " + strings.Join(append([]string{"ndots:0"}, options...), " ") + "\n")
	return []byte(out.String())
}

// networkNameOf is the network a container's NetworkMode names in inspect
// (its Networks key): "" for container:<x>.
func networkNameOf(mode containertypes.NetworkMode) string {
	if strings.HasPrefix(string(mode), "container:") {
		return ""
	}
	if mode == "" || mode == "default" {
		return network.NameBridge
	}
	return string(mode)
}

// networkSettings is what inspect and ps show of the container's
// networking: its endpoints while it runs, the network it is configured
// for otherwise, and its exposed ports with their host ports. Caller holds
// c's lock.
func (d *Daemon) networkSettings(c *container.Container) (map[string]*networktypes.EndpointSettings, networktypes.PortMap, []containertypes.PortSummary) {
	networks := map[string]*networktypes.EndpointSettings{}
	var eps []network.Endpoint
	if c.State.Running || c.State.Paused || c.State.Restarting {
		eps = d.net.Endpoints(c.ID)
	}
	for _, ep := range eps {
		es := &networktypes.EndpointSettings{
			NetworkID:   ep.NetworkID,
			EndpointID:  ep.ID,
			Gateway:     ep.Gateway,
			Aliases:     slices.Clone(ep.Aliases),
			IPAddress:   ep.IP.Addr(),
			IPPrefixLen: ep.IP.Bits(),
		}
		if !ep.IP.IsValid() {
			es.IPPrefixLen = 0
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			es.MacAddress = networktypes.HardwareAddr(mac)
		}
		if cfg := endpointSettings(c, ep.NetworkName); cfg != nil {
			es.IPAMConfig = cfg.IPAMConfig.Copy()
			es.Links = slices.Clone(cfg.Links)
			es.DriverOpts = cfg.DriverOpts
		}
		if ep.NetworkName != network.NameBridge {
			es.DNSNames = append([]string{ep.Name}, ep.Aliases...)
			es.DNSNames = append(es.DNSNames, container.ShortID(c.ID))
		}
		networks[ep.NetworkName] = es
	}
	if len(eps) == 0 {
		// Not running: the networks it joins at its next start.
		var refs []string
		if name := networkNameOf(c.HostConfig.NetworkMode); name != "" && !c.LeftNetworkMode {
			refs = append(refs, name)
		}
		if !c.HostConfig.NetworkMode.IsContainer() && c.NetworkingConfig != nil {
			for ref := range c.NetworkingConfig.EndpointsConfig {
				if !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
		for _, name := range refs {
			es := &networktypes.EndpointSettings{}
			if cfg := endpointSettings(c, name); cfg != nil {
				es.IPAMConfig = cfg.IPAMConfig.Copy()
				es.Aliases = slices.Clone(cfg.Aliases)
				es.Links = slices.Clone(cfg.Links)
				es.DriverOpts = cfg.DriverOpts
			}
			if n, err := d.net.Network(name); err == nil {
				es.NetworkID = n.ID
				name = n.Name
			}
			networks[name] = es
		}
	}

	ports := networktypes.PortMap{}
	summary := []containertypes.PortSummary{}
	if !c.State.Running {
		return networks, ports, summary
	}
	for _, p := range exposedPorts(c) {
		ports[p] = nil
	}
	published := map[networktypes.Port]bool{}
	for _, ep := range eps {
		for _, pb := range ep.Ports {
			p, ok := networktypes.PortFrom(pb.ContainerPort, networktypes.IPProtocol(pb.Proto))
			if !ok {
				continue
			}
			ip := pb.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			ports[p] = append(ports[p], networktypes.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(pb.HostPort))})
			summary = append(summary, containertypes.PortSummary{IP: ip, PrivatePort: pb.ContainerPort, PublicPort: pb.HostPort, Type: pb.Proto})
			published[p] = true
		}
	}
	for _, p := range exposedPorts(c) {
		if !published[p] {
			summary = append(summary, containertypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	return networks, ports, summary
}
