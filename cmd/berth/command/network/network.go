// Package network implements `berth network`: create, ls, inspect, rm,
// connect, disconnect and prune, with the docker CLI's flags and output.
// The run* functions hold the logic; cmd.go only wires them to cobra.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/stringid"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

type createOptions struct {
	name       string
	driver     string
	driverOpts map[string]string
	labels     map[string]string
	internal   bool
	ipv6       *bool // nil: not given, the daemon decides
	attachable bool
	ingress    bool
	scope      string
	configOnly bool
	configFrom string
	ipam       ipamOptions
}

type ipamOptions struct {
	driver       string
	subnets      []string
	ipRanges     []string
	gateways     []string
	auxAddresses map[string]string
	driverOpts   map[string]string
}

// runCreate creates a network and prints its ID.
func runCreate(ctx context.Context, api client.NetworkAPIClient, out io.Writer, o createOptions) error {
	ipam, err := ipamConfig(o.ipam)
	if err != nil {
		return err
	}
	res, err := api.NetworkCreate(ctx, o.name, client.NetworkCreateOptions{
		Driver:     o.driver,
		Scope:      o.scope,
		EnableIPv6: o.ipv6,
		IPAM:       ipam,
		Internal:   o.internal,
		Attachable: o.attachable,
		Ingress:    o.ingress,
		ConfigOnly: o.configOnly,
		ConfigFrom: o.configFrom,
		Options:    o.driverOpts,
		Labels:     o.labels,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, res.ID)
	return err
}

// ipamConfig groups --subnet, --ip-range, --gateway and --aux-address into
// one IPAM config per subnet, as the docker CLI does: each range, gateway
// and auxiliary address goes with the subnet that contains it, at most one
// range and one gateway per subnet, and subnets may not overlap. Configs
// keep the order the subnets were given in.
func ipamConfig(o ipamOptions) (*network.IPAM, error) {
	if len(o.subnets) < len(o.ipRanges) || len(o.subnets) < len(o.gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	subnets := make([]netip.Prefix, len(o.subnets))
	configs := make([]network.IPAMConfig, len(o.subnets))
	for i, s := range o.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet: invalid CIDR address: %s", s)
		}
		for _, prev := range subnets[:i] {
			if prev.Overlaps(p) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		subnets[i] = p
		configs[i] = network.IPAMConfig{Subnet: p}
	}
	// containing is the index of the subnet holding ip, or -1.
	containing := func(ip netip.Addr) int {
		for i, s := range subnets {
			if s.Masked().Contains(ip) {
				return i
			}
		}
		return -1
	}
	for _, r := range o.ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR address: %s", r)
		}
		i := containing(p.Addr())
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if prev := configs[i].IPRange; prev.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, prev, o.subnets[i])
		}
		configs[i].IPRange = p
	}
	for _, g := range o.gateways {
		ip, err := netip.ParseAddr(g)
		i := -1
		if err == nil {
			i = containing(ip)
		}
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		if prev := configs[i].Gateway; prev.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, prev, o.subnets[i])
		}
		configs[i].Gateway = ip
	}
	for _, name := range slices.Sorted(maps.Keys(o.auxAddresses)) {
		a := o.auxAddresses[name]
		if a == "" {
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("invalid aux-address %s: %w", a, err)
		}
		i := containing(ip)
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", a)
		}
		if configs[i].AuxAddress == nil {
			configs[i].AuxAddress = map[string]netip.Addr{}
		}
		configs[i].AuxAddress[name] = ip
	}
	return &network.IPAM{Driver: o.driver, Options: o.driverOpts, Config: configs}, nil
}

const (
	defaultTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
	quietFormat        = "{{.ID}}"
	rawFormat          = `network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n`
	rawQuietFormat     = `network_id: {{.ID}}`
)

type listOptions struct {
	quiet   bool
	noTrunc bool
	format  string
	filters client.Filters
}

// runList prints the networks matching the filters, sorted by name in
// natural order as docker does (net2 before net10).
func runList(ctx context.Context, api client.NetworkAPIClient, out io.Writer, o listOptions) error {
	res, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: o.filters})
	if err != nil {
		return err
	}
	nets := res.Items
	slices.SortStableFunc(nets, func(a, b network.Summary) int {
		switch {
		case formatter.NaturalLess(a.Name, b.Name):
			return -1
		case formatter.NaturalLess(b.Name, a.Name):
			return 1
		}
		return 0
	})
	rows := make([]row, len(nets))
	for i, n := range nets {
		rows[i] = row{n: n, trunc: !o.noTrunc}
	}
	return formatter.Write(out, listFormat(o.format, o.quiet), header{}, rows)
}

// listFormat picks the template as docker does: -q only shortens the
// "table" and "raw" formats, an explicit template wins over it.
func listFormat(format string, quiet bool) string {
	switch format {
	case "", formatter.TableKey:
		if quiet {
			return quietFormat
		}
		return defaultTableFormat
	case "raw":
		if quiet {
			return rawQuietFormat
		}
		return rawFormat
	}
	return format
}

type inspectOptions struct {
	names   []string
	format  string
	verbose bool
}

// runInspect prints each network as the daemon returns it, or through a
// template applied to the decoded object. Names that fail are reported
// together at the end and make the command fail.
func runInspect(ctx context.Context, api client.NetworkAPIClient, out io.Writer, o inspectOptions) error {
	raw := o.format == "" || o.format == formatter.JSONKey
	return formatter.Inspect(out, o.format, o.names, func(name string) (any, error) {
		res, err := api.NetworkInspect(ctx, name, client.NetworkInspectOptions{Verbose: o.verbose})
		if err != nil {
			return nil, err
		}
		if raw && len(res.Raw) > 0 {
			// The daemon's own bytes keep its field order and any field
			// the client library does not know.
			return json.RawMessage(res.Raw), nil
		}
		return res.Network, nil
	})
}

type removeOptions struct {
	names []string
	force bool
}

// runRemove removes each network in turn, printing each name removed and
// each failure on errOut, and goes on past failures. Any failure makes it
// end with docker's "exit status 1". With force a network that does not
// exist is no failure.
func runRemove(ctx context.Context, api client.NetworkAPIClient, out, errOut io.Writer, o removeOptions) error {
	failed := false
	for _, name := range o.names {
		if _, err := api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil {
			if o.force && cerrdefs.IsNotFound(err) {
				continue
			}
			fmt.Fprintln(errOut, err)
			failed = true
			continue
		}
		fmt.Fprintln(out, name)
	}
	if failed {
		return command.StatusError{Status: "exit status 1", StatusCode: 1}
	}
	return nil
}

type connectOptions struct {
	network      string
	container    string
	ipv4         netip.Addr
	ipv6         netip.Addr
	links        []string
	aliases      []string
	linkLocalIPs []netip.Addr
	driverOpts   []string
}

// runConnect connects a container to a network with the endpoint settings
// the flags give.
func runConnect(ctx context.Context, api client.NetworkAPIClient, o connectOptions) error {
	driverOpts, err := parseDriverOpts(o.driverOpts)
	if err != nil {
		return err
	}
	_, err = api.NetworkConnect(ctx, o.network, client.NetworkConnectOptions{
		Container: o.container,
		EndpointConfig: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{
				IPv4Address:  o.ipv4,
				IPv6Address:  o.ipv6,
				LinkLocalIPs: o.linkLocalIPs,
			},
			Links:      o.links,
			Aliases:    o.aliases,
			DriverOpts: driverOpts,
		},
	})
	return err
}

// parseDriverOpts reads --driver-opt key=value pairs, trimmed, as docker
// does.
func parseDriverOpts(pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("invalid key/value pair format in driver options")
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}

// validateLink checks a --link value: "name" or "name:alias".
func validateLink(val string) (string, error) {
	if val == "" {
		return "", errors.New("empty string specified for links")
	}
	if strings.Count(val, ":") > 1 {
		return "", errors.New("bad format for links: " + val)
	}
	return val, nil
}

// parseAddr reads an IP address flag, worded as pflag's IP flags.
func parseAddr(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid string being converted to IP address: %s", s)
	}
	return ip.Unmap(), nil
}

func splitComma(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

type disconnectOptions struct {
	network   string
	container string
	force     bool
}

func runDisconnect(ctx context.Context, api client.NetworkAPIClient, o disconnectOptions) error {
	_, err := api.NetworkDisconnect(ctx, o.network, client.NetworkDisconnectOptions{Container: o.container, Force: o.force})
	return err
}

const pruneWarning = `WARNING! This will remove all custom networks not used by at least one container.
Are you sure you want to continue?`

type pruneOptions struct {
	force   bool
	filters client.Filters
}

// runPrune removes unused networks after asking (unless force), then
// lists those removed. Declining is not an error: nothing more is printed
// and berth exits 0, as docker does.
func runPrune(ctx context.Context, api client.NetworkAPIClient, in io.Reader, out io.Writer, o pruneOptions) error {
	if !o.force && !command.Confirm(in, out, pruneWarning) {
		return nil
	}
	res, err := api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: o.filters})
	if err != nil {
		return err
	}
	if len(res.Report.NetworksDeleted) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("Deleted Networks:\n")
	for _, id := range res.Report.NetworksDeleted {
		b.WriteString(id + "\n")
	}
	b.WriteString("\n")
	_, err = io.WriteString(out, b.String())
	return err
}

// row is a network as --format templates see it: docker's field names,
// all strings.
type row struct {
	n     network.Summary
	trunc bool
}

func (r row) ID() string {
	if r.trunc {
		return stringid.TruncateID(r.n.ID)
	}
	return r.n.ID
}

func (r row) Name() string      { return r.n.Name }
func (r row) Driver() string    { return r.n.Driver }
func (r row) Scope() string     { return r.n.Scope }
func (r row) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r row) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r row) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r row) CreatedAt() string { return r.n.Created.String() }

// Labels joins the labels as k=v pairs, sorted so output is stable.
func (r row) Labels() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.n.Labels)) {
		out = append(out, k+"="+r.n.Labels[k])
	}
	return strings.Join(out, ",")
}

// Label is the value of one label, for {{.Label "name"}}.
func (r row) Label(name string) string { return r.n.Labels[name] }

// MarshalJSON gives {{json .}} and --format json the object docker prints.
func (r row) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"CreatedAt": r.CreatedAt(),
		"Driver":    r.Driver(),
		"ID":        r.ID(),
		"IPv4":      r.IPv4(),
		"IPv6":      r.IPv6(),
		"Internal":  r.Internal(),
		"Labels":    r.Labels(),
		"Name":      r.Name(),
		"Scope":     r.Scope(),
	})
}

// header answers the same template as row with the column titles.
type header struct{}

func (header) ID() string        { return "NETWORK ID" }
func (header) Name() string      { return "NAME" }
func (header) Driver() string    { return "DRIVER" }
func (header) Scope() string     { return "SCOPE" }
func (header) IPv4() string      { return "IPV4" }
func (header) IPv6() string      { return "IPV6" }
func (header) Internal() string  { return "INTERNAL" }
func (header) CreatedAt() string { return "CREATED AT" }
func (header) Labels() string    { return "LABELS" }

// Label titles a label column with the last dotted part of its name, as
// docker does.
func (header) Label(name string) string {
	return formatter.LabelTitle(name)
}
