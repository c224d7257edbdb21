package network

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

// fakeDaemon answers the network endpoints from memory and records what
// the client sent, so the tests exercise the real moby client on the wire.
type fakeDaemon struct {
	mu         sync.Mutex
	nets       map[string]network.Inspect // by name
	created    network.CreateRequest
	connected  []string // network names, in order
	connect    network.ConnectRequest
	disconnect network.DisconnectRequest
	removed    []string
	filters    string // the last filters query seen
	inspectQ   string // the last inspect query seen
	pruneCalls int
	srv        *httptest.Server
}

func newFakeDaemon(t *testing.T, nets ...network.Inspect) (*fakeDaemon, *client.Client) {
	t.Helper()
	d := &fakeDaemon{nets: map[string]network.Inspect{}}
	for _, n := range nets {
		d.nets[n.Name] = n
	}
	mux := http.NewServeMux()
	ping := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		_, _ = w.Write([]byte("OK"))
	}
	mux.HandleFunc("HEAD /_ping", ping)
	mux.HandleFunc("GET /_ping", ping)
	mux.HandleFunc("GET /{v}/networks", d.list)
	mux.HandleFunc("GET /{v}/networks/{name}", d.inspect)
	mux.HandleFunc("POST /{v}/networks/create", d.create)
	mux.HandleFunc("DELETE /{v}/networks/{name}", d.remove)
	mux.HandleFunc("POST /{v}/networks/{name}/connect", d.doConnect)
	mux.HandleFunc("POST /{v}/networks/{name}/disconnect", d.doDisconnect)
	mux.HandleFunc("POST /{v}/networks/prune", d.prune)
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	api, err := client.New(client.WithHost(d.host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return d, api
}

func (d *fakeDaemon) host() string { return "tcp://" + d.srv.Listener.Addr().String() }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, name string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "network " + name + " not found"})
}

func (d *fakeDaemon) list(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.filters = r.URL.Query().Get("filters")
	list := []network.Summary{}
	for _, n := range d.nets {
		list = append(list, network.Summary{Network: n.Network})
	}
	writeJSON(w, http.StatusOK, list)
}

func (d *fakeDaemon) inspect(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inspectQ = r.URL.RawQuery
	n, ok := d.nets[r.PathValue("name")]
	if !ok {
		notFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (d *fakeDaemon) create(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.created = network.CreateRequest{}
	_ = json.NewDecoder(r.Body).Decode(&d.created)
	if _, ok := d.nets[d.created.Name]; ok {
		writeJSON(w, http.StatusConflict, map[string]string{"message": "network with name " + d.created.Name + " already exists"})
		return
	}
	id := strings.Repeat("f", 64)
	d.nets[d.created.Name] = network.Inspect{Network: network.Network{ID: id, Name: d.created.Name, Driver: d.created.Driver, Scope: "local"}}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: id})
}

func (d *fakeDaemon) remove(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := r.PathValue("name")
	switch {
	case name == "bridge":
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "bridge is a pre-defined network and cannot be removed"})
		return
	case d.nets[name].Name == "":
		notFound(w, name)
		return
	}
	delete(d.nets, name)
	d.removed = append(d.removed, name)
	w.WriteHeader(http.StatusNoContent)
}

func (d *fakeDaemon) doConnect(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.connect = network.ConnectRequest{}
	_ = json.NewDecoder(r.Body).Decode(&d.connect)
	d.connected = append(d.connected, r.PathValue("name"))
	w.WriteHeader(http.StatusOK)
}

func (d *fakeDaemon) doDisconnect(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disconnect = network.DisconnectRequest{}
	_ = json.NewDecoder(r.Body).Decode(&d.disconnect)
	d.connected = append(d.connected, r.PathValue("name"))
	w.WriteHeader(http.StatusOK)
}

func (d *fakeDaemon) prune(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneCalls++
	d.filters = r.URL.Query().Get("filters")
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for _, name := range []string{"n1", "n2"} {
		if _, ok := d.nets[name]; ok {
			rep.NetworksDeleted = append(rep.NetworksDeleted, name)
			delete(d.nets, name)
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// berth runs args through a root command set up as cmd/berth's is and
// returns the error and the streams.
func berth(t *testing.T, host, stdin string, args ...string) (error, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli := &command.Cli{In: strings.NewReader(stdin), Out: &out, Err: &errOut, Host: host}
	t.Cleanup(cli.Close)
	root := &cobra.Command{Use: "berth", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&cli.Host, "host", "H", host, "")
	root.PersistentFlags().StringP("log-level", "l", "info", "")
	root.AddCommand(NewCommand(cli))
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.SetArgs(args)
	root.SetIn(cli.In)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return err, out.String(), errOut.String()
}

var created = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func nw(id, name, driver string, labels map[string]string) network.Inspect {
	return network.Inspect{Network: network.Network{
		ID: id, Name: name, Driver: driver, Scope: "local", Created: created, Labels: labels, EnableIPv4: true,
	}}
}

var (
	bridgeID = "0123456789ab" + strings.Repeat("c", 52)
	hostID   = "abcdef012345" + strings.Repeat("d", 52)
	net10ID  = "1010101010101010" + strings.Repeat("e", 48)
	net2ID   = "2222222222222222" + strings.Repeat("f", 48)
)

func someNets() []network.Inspect {
	return []network.Inspect{
		nw(bridgeID, "bridge", "bridge", nil),
		nw(hostID, "host", "host", nil),
		nw(net10ID, "net10", "bridge", map[string]string{"z": "1", "com.example.team": "x"}),
		nw(net2ID, "net2", "bridge", nil),
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range NewCommand(&command.Cli{}).Commands() {
		err, out, _ := berth(t, "", "", "network", c.Name(), "--help")
		if err != nil || !strings.Contains(out, c.Short) || !strings.HasPrefix(out, "Usage:") && !strings.Contains(out, "Usage:") {
			t.Errorf("%s: %v\n%s", c.Name(), err, out)
		}
	}
}

func TestListTable(t *testing.T) {
	_, api := newFakeDaemon(t, someNets()...)
	var out bytes.Buffer
	if err := runList(context.Background(), api, &out, listOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "NETWORK ID     NAME      DRIVER    SCOPE\n" +
		"0123456789ab   bridge    bridge    local\n" +
		"abcdef012345   host      host      local\n" +
		"2222222222222222"[:12] + "   net2      bridge    local\n" +
		"1010101010101010"[:12] + "   net10     bridge    local\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestListQuietAndFormats(t *testing.T) {
	_, api := newFakeDaemon(t, nw(net2ID, "b", "bridge", map[string]string{"z": "1", "com.example.team": "x"}), nw(bridgeID, "a", "bridge", nil))
	for _, tc := range []struct {
		name string
		opts listOptions
		want string
	}{
		{"quiet", listOptions{quiet: true}, "0123456789ab\n222222222222\n"},
		{"quiet no-trunc", listOptions{quiet: true, noTrunc: true}, bridgeID + "\n" + net2ID + "\n"},
		{"quiet table", listOptions{quiet: true, format: "table"}, "0123456789ab\n222222222222\n"},
		{"format beats quiet", listOptions{quiet: true, format: "{{.Name}}"}, "a\nb\n"},
		{"no-trunc table", listOptions{noTrunc: true, format: "table {{.ID}}\t{{.Name}}"},
			"NETWORK ID                                                         NAME\n" + bridgeID + "   a\n" + net2ID + "   b\n"},
		{"placeholders", listOptions{format: "{{.ID}}|{{.Name}}|{{.Driver}}|{{.Scope}}|{{.IPv4}}|{{.IPv6}}|{{.Internal}}|{{.Labels}}|{{.CreatedAt}}"},
			"0123456789ab|a|bridge|local|true|false|false||2026-01-02 03:04:05.123456789 +0000 UTC\n" +
				"222222222222|b|bridge|local|true|false|false|com.example.team=x,z=1|2026-01-02 03:04:05.123456789 +0000 UTC\n"},
		{"header of every column", listOptions{format: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}\t{{.IPv4}}\t{{.IPv6}}\t{{.Internal}}\t{{.Labels}}\t{{.CreatedAt}}"},
			"NETWORK ID     NAME      DRIVER    SCOPE     IPV4      IPV6      INTERNAL   LABELS                   CREATED AT\n" +
				"0123456789ab   a         bridge    local     true      false     false                               2026-01-02 03:04:05.123456789 +0000 UTC\n" +
				"222222222222   b         bridge    local     true      false     false      com.example.team=x,z=1   2026-01-02 03:04:05.123456789 +0000 UTC\n"},
		{"label column", listOptions{format: "table {{.Name}}\t{{.Label \"com.example.team\"}}"},
			"NAME      team\na         \nb         x\n"},
		{"raw", listOptions{format: "raw"},
			"network_id: 0123456789ab\nname: a\ndriver: bridge\nscope: local\n\nnetwork_id: 222222222222\nname: b\ndriver: bridge\nscope: local\n\n"},
		{"raw quiet", listOptions{format: "raw", quiet: true}, "network_id: 0123456789ab\nnetwork_id: 222222222222\n"},
		{"json is docker's object", listOptions{format: "json"},
			`{"CreatedAt":"2026-01-02 03:04:05.123456789 +0000 UTC","Driver":"bridge","ID":"0123456789ab","IPv4":"true","IPv6":"false","Internal":"false","Labels":"","Name":"a","Scope":"local"}` + "\n" +
				`{"CreatedAt":"2026-01-02 03:04:05.123456789 +0000 UTC","Driver":"bridge","ID":"222222222222","IPv4":"true","IPv6":"false","Internal":"false","Labels":"com.example.team=x,z=1","Name":"b","Scope":"local"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runList(context.Background(), api, &out, tc.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestListEmptyAndBadTemplate(t *testing.T) {
	_, api := newFakeDaemon(t)
	var out bytes.Buffer
	if err := runList(context.Background(), api, &out, listOptions{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "NETWORK ID   NAME      DRIVER    SCOPE\n" {
		t.Errorf("empty table %q", out.String())
	}
	_, api = newFakeDaemon(t, someNets()...)
	err := runList(context.Background(), api, &bytes.Buffer{}, listOptions{format: "{{.Nope}}"})
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Nope") {
		t.Errorf("bad template: %v", err)
	}
}

func TestListSendsFilters(t *testing.T) {
	d, _ := newFakeDaemon(t, someNets()...)
	err, out, _ := berth(t, d.host(), "", "network", "ls", "-f", "driver=bridge", "--filter", "Label=a=b", "-f", "type=custom", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if d.filters != `{"driver":{"bridge":true},"label":{"a=b":true},"type":{"custom":true}}` {
		t.Errorf("filters sent: %s", d.filters)
	}
	if len(strings.Fields(out)) != 4 {
		t.Errorf("out %q", out)
	}
	if err, _, _ := berth(t, d.host(), "", "network", "ls", "-f", "nofilter"); err == nil || !strings.Contains(err.Error(), "bad format of filter (expected name=value)") {
		t.Errorf("bad filter: %v", err)
	}
	if err, _, _ := berth(t, d.host(), "", "network", "ls", "extra"); command.ExitCode(err) != command.UsageStatus {
		t.Errorf("arg: %v", err)
	}
}

func TestCreateFlags(t *testing.T) {
	d, _ := newFakeDaemon(t)
	err, out, _ := berth(t, d.host(), "", "network", "create",
		"-d", "bridge", "--subnet", "10.1.0.0/16", "--subnet", "fd00:1::/64", "--gateway", "10.1.0.1,fd00:1::1",
		"--ip-range", "10.1.2.0/24", "--internal", "--attachable", "--ipv6",
		"--label", "a=b", "--label", "c", "-o", "com.docker.network.bridge.name=br9", "--opt", "com.docker.network.driver.mtu=1400",
		"--aux-address", "host1=10.1.0.9", "--ipam-opt", "x=y", "mynet")
	if err != nil {
		t.Fatal(err)
	}
	if out != strings.Repeat("f", 64)+"\n" {
		t.Errorf("printed %q", out)
	}
	c := d.created
	if c.Name != "mynet" || c.Driver != "bridge" || !c.Internal || !c.Attachable || c.EnableIPv6 == nil || !*c.EnableIPv6 || c.EnableIPv4 != nil {
		t.Errorf("request %+v", c)
	}
	if len(c.Labels) != 2 || c.Labels["a"] != "b" || c.Labels["c"] != "" {
		t.Errorf("labels %v", c.Labels)
	}
	if len(c.Options) != 2 || c.Options["com.docker.network.bridge.name"] != "br9" || c.Options["com.docker.network.driver.mtu"] != "1400" {
		t.Errorf("options %v", c.Options)
	}
	want := []network.IPAMConfig{
		{Subnet: netip.MustParsePrefix("10.1.0.0/16"), IPRange: netip.MustParsePrefix("10.1.2.0/24"), Gateway: netip.MustParseAddr("10.1.0.1"),
			AuxAddress: map[string]netip.Addr{"host1": netip.MustParseAddr("10.1.0.9")}},
		{Subnet: netip.MustParsePrefix("fd00:1::/64"), Gateway: netip.MustParseAddr("fd00:1::1")},
	}
	if c.IPAM == nil || c.IPAM.Driver != "default" || c.IPAM.Options["x"] != "y" || !slices.EqualFunc(c.IPAM.Config, want, ipamEqual) {
		t.Errorf("ipam %+v", c.IPAM)
	}

	// The defaults: bridge driver, the default IPAM with no config, and
	// EnableIPv6 left to the daemon.
	if err, _, _ := berth(t, d.host(), "", "network", "create", "plain"); err != nil {
		t.Fatal(err)
	}
	c = d.created
	if c.Name != "plain" || c.Driver != "bridge" || c.EnableIPv6 != nil || c.Internal || c.Labels != nil || c.Options != nil ||
		c.IPAM == nil || c.IPAM.Driver != "default" || len(c.IPAM.Config) != 0 {
		t.Errorf("defaults %+v", c)
	}
	if err, _, _ := berth(t, d.host(), "", "network", "create", "--ipv6=false", "v4only"); err != nil || d.created.EnableIPv6 == nil || *d.created.EnableIPv6 {
		t.Errorf("--ipv6=false: %v %+v", err, d.created)
	}

	err, _, _ = berth(t, d.host(), "", "network", "create", "plain")
	if err == nil || err.Error() != "Error response from daemon: network with name plain already exists" || command.ExitCode(err) != 1 {
		t.Errorf("duplicate: %v", err)
	}
	err, _, _ = berth(t, d.host(), "", "network", "create")
	if command.ExitCode(err) != command.UsageStatus || !strings.HasPrefix(err.Error(), `"berth network create" requires exactly 1 argument.`) {
		t.Errorf("no name: %v", err)
	}
	err, _, _ = berth(t, d.host(), "", "network", "create", "--label", "=x", "n")
	if err == nil || !strings.Contains(err.Error(), "invalid label '=x': empty name") {
		t.Errorf("bad label: %v", err)
	}
}

func ipamEqual(a, b network.IPAMConfig) bool {
	if a.Subnet != b.Subnet || a.IPRange != b.IPRange || a.Gateway != b.Gateway || len(a.AuxAddress) != len(b.AuxAddress) {
		return false
	}
	for k, v := range a.AuxAddress {
		if b.AuxAddress[k] != v {
			return false
		}
	}
	return true
}

func TestIPAMConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		o    ipamOptions
		want string
	}{
		{ipamOptions{gateways: []string{"10.1.0.1"}}, "every ip-range or gateway must have a corresponding subnet"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, ipRanges: []string{"10.1.0.0/24", "10.1.1.0/24"}}, "every ip-range or gateway must have a corresponding subnet"},
		{ipamOptions{subnets: []string{"10.1.0.0"}}, "invalid subnet: invalid CIDR address: 10.1.0.0"},
		{ipamOptions{subnets: []string{"10.1.0.0/33"}}, "invalid subnet: invalid CIDR address: 10.1.0.0/33"},
		{ipamOptions{subnets: []string{"10.1.0.0/16", "10.1.5.0/24"}}, "multiple overlapping subnet configuration is not supported"},
		{ipamOptions{subnets: []string{"10.1.5.0/24", "10.0.0.0/8"}}, "multiple overlapping subnet configuration is not supported"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, gateways: []string{"10.2.0.1"}}, "no matching subnet for gateway 10.2.0.1"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, gateways: []string{"bad"}}, "no matching subnet for gateway bad"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, ipRanges: []string{"10.2.0.0/24"}}, "no matching subnet for range 10.2.0.0/24"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, ipRanges: []string{"bad"}}, "invalid CIDR address: bad"},
		{ipamOptions{subnets: []string{"10.1.0.0/16", "10.2.0.0/16"}, ipRanges: []string{"10.1.0.0/24", "10.1.1.0/24"}},
			"cannot configure multiple ranges (10.1.1.0/24, 10.1.0.0/24) on the same subnet (10.1.0.0/16)"},
		{ipamOptions{subnets: []string{"10.1.0.0/16", "10.2.0.0/16"}, gateways: []string{"10.1.0.1", "10.1.0.2"}},
			"cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"},
		{ipamOptions{subnets: []string{"10.1.0.0/16"}, auxAddresses: map[string]string{"a": "10.9.0.1"}}, "no matching subnet for aux-address 10.9.0.1"},
	} {
		if _, err := ipamConfig(tc.o); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestInspect(t *testing.T) {
	n := nw(bridgeID, "mynet", "bridge", map[string]string{"k": "v"})
	n.Containers = map[string]network.EndpointResource{"c1": {Name: "web", IPv4Address: netip.MustParsePrefix("172.18.0.2/16")}}
	d, api := newFakeDaemon(t, n)
	var out bytes.Buffer
	err := runInspect(context.Background(), api, &out, inspectOptions{names: []string{"mynet", "nope"}})
	if err == nil || err.Error() != "Error response from daemon: network nope not found" || command.ExitCode(err) != 1 {
		t.Errorf("err = %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if got[0]["Name"] != "mynet" || got[0]["Id"] != bridgeID || got[0]["Containers"].(map[string]any)["c1"].(map[string]any)["IPv4Address"] != "172.18.0.2/16" {
		t.Errorf("inspect %v", got[0])
	}
	if !strings.HasPrefix(out.String(), "[\n    {\n        \"Name\": \"mynet\",\n        \"Id\": ") {
		t.Errorf("not docker's indented array in the daemon's field order:\n%s", out.String())
	}

	out.Reset()
	if err := runInspect(context.Background(), api, &out, inspectOptions{names: []string{"mynet"}, format: "{{.Name}} {{.Labels.k}} {{range .Containers}}{{.IPv4Address}}{{end}}"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "mynet v 172.18.0.2/16\n" {
		t.Errorf("template: %q", out.String())
	}
	if d.inspectQ != "" {
		t.Errorf("query without -v: %q", d.inspectQ)
	}

	err, out2, _ := berth(t, d.host(), "", "network", "inspect", "-v", "-f", "{{json .Id}}", "mynet")
	if err != nil || out2 != `"`+bridgeID+`"`+"\n" {
		t.Errorf("-v -f: %v %q", err, out2)
	}
	if d.inspectQ != "verbose=true" {
		t.Errorf("query with -v: %q", d.inspectQ)
	}
	err, _, _ = berth(t, d.host(), "", "network", "inspect", "-f", "{{", "mynet")
	if command.ExitCode(err) != formatter.TemplateParseStatus {
		t.Errorf("bad template: %v", err)
	}
}

func TestRemove(t *testing.T) {
	d, _ := newFakeDaemon(t, someNets()...)
	err, out, errOut := berth(t, d.host(), "", "network", "rm", "net2", "nope", "bridge", "net10")
	if out != "net2\nnet10\n" {
		t.Errorf("printed %q", out)
	}
	if errOut != "Error response from daemon: network nope not found\nError response from daemon: bridge is a pre-defined network and cannot be removed\n" {
		t.Errorf("stderr %q", errOut)
	}
	if err == nil || err.Error() != "exit status 1" || command.ExitCode(err) != 1 {
		t.Errorf("err = %v", err)
	}
	if !slices.Equal(d.removed, []string{"net2", "net10"}) {
		t.Errorf("removed %v", d.removed)
	}

	// -f: a missing network is no failure and says nothing; others still fail.
	err, out, errOut = berth(t, d.host(), "", "network", "remove", "-f", "nope", "host")
	if err != nil || out != "host\n" || errOut != "" {
		t.Errorf("-f: %v %q %q", err, out, errOut)
	}
	err, _, errOut = berth(t, d.host(), "", "network", "rm", "-f", "bridge")
	if command.ExitCode(err) != 1 || !strings.Contains(errOut, "pre-defined") {
		t.Errorf("-f on a real failure: %v %q", err, errOut)
	}
	err, _, _ = berth(t, d.host(), "", "network", "rm")
	if command.ExitCode(err) != command.UsageStatus {
		t.Errorf("no args: %v", err)
	}
}

func TestConnectFlags(t *testing.T) {
	d, _ := newFakeDaemon(t)
	err, out, _ := berth(t, d.host(), "", "network", "connect",
		"--alias", "x", "--alias", "y,z", "--ip", "10.1.2.3", "--ip6", "fd00::3", "--link", "db:database", "--link", "cache",
		"--link-local-ip", "169.254.0.9", "--driver-opt", " a = b ", "--driver-opt", "c=", "mynet", "web")
	if err != nil || out != "" {
		t.Fatalf("%v %q", err, out)
	}
	c := d.connect
	if d.connected[0] != "mynet" || c.Container != "web" || c.EndpointConfig == nil || c.EndpointConfig.IPAMConfig == nil {
		t.Fatalf("request %+v", c)
	}
	ep := c.EndpointConfig
	if ep.IPAMConfig.IPv4Address != netip.MustParseAddr("10.1.2.3") || ep.IPAMConfig.IPv6Address != netip.MustParseAddr("fd00::3") ||
		!slices.Equal(ep.IPAMConfig.LinkLocalIPs, []netip.Addr{netip.MustParseAddr("169.254.0.9")}) {
		t.Errorf("ipam %+v", ep.IPAMConfig)
	}
	if !slices.Equal(ep.Aliases, []string{"x", "y", "z"}) || !slices.Equal(ep.Links, []string{"db:database", "cache"}) ||
		len(ep.DriverOpts) != 2 || ep.DriverOpts["a"] != "b" || ep.DriverOpts["c"] != "" {
		t.Errorf("endpoint %+v", ep)
	}

	// No flags: an empty endpoint config, as docker sends.
	if err, _, _ := berth(t, d.host(), "", "network", "connect", "mynet", "web2"); err != nil {
		t.Fatal(err)
	}
	if ep := d.connect.EndpointConfig; d.connect.Container != "web2" || ep == nil || ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address.IsValid() ||
		len(ep.Aliases) != 0 || ep.Links != nil || len(ep.DriverOpts) != 0 {
		t.Errorf("bare connect %+v", d.connect)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip", "10.1.2", "n", "c"}, `invalid argument "10.1.2" for "--ip" flag: invalid string being converted to IP address: 10.1.2`},
		{[]string{"--link", "a:b:c", "n", "c"}, `invalid argument "a:b:c" for "--link" flag: bad format for links: a:b:c`},
		{[]string{"--driver-opt", "novalue", "n", "c"}, "invalid key/value pair format in driver options"},
		{[]string{"n"}, `"berth network connect" requires exactly 2 arguments.`},
	} {
		err, _, _ := berth(t, d.host(), "", append([]string{"network", "connect"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
	if len(d.connected) != 2 {
		t.Errorf("refused connects reached the daemon: %v", d.connected)
	}
}

func TestDisconnect(t *testing.T) {
	d, _ := newFakeDaemon(t)
	if err, _, _ := berth(t, d.host(), "", "network", "disconnect", "-f", "mynet", "web"); err != nil {
		t.Fatal(err)
	}
	if d.connected[0] != "mynet" || d.disconnect.Container != "web" || !d.disconnect.Force {
		t.Errorf("request %+v", d.disconnect)
	}
	if err, _, _ := berth(t, d.host(), "", "network", "disconnect", "mynet", "web"); err != nil || d.disconnect.Force {
		t.Errorf("no -f: %v %+v", err, d.disconnect)
	}
	if err, _, _ := berth(t, d.host(), "", "network", "disconnect", "mynet"); command.ExitCode(err) != command.UsageStatus {
		t.Errorf("one arg: %v", err)
	}
}

func TestPrune(t *testing.T) {
	n1, n2 := nw("1", "n1", "bridge", nil), nw("2", "n2", "bridge", nil)
	prompt := pruneWarning + " [y/N] "
	for _, tc := range []struct {
		name    string
		args    []string
		input   string
		calls   int
		filters string
		wantOut string
		noNets  bool
	}{
		{name: "declined", input: "n\n", wantOut: prompt},
		{name: "no input declines", wantOut: prompt},
		{name: "yes only", input: "yes\n", wantOut: prompt},
		{name: "confirmed", input: "y\n", calls: 1, wantOut: prompt + "Deleted Networks:\nn1\nn2\n\n"},
		{name: "forced", args: []string{"-f"}, calls: 1, wantOut: "Deleted Networks:\nn1\nn2\n\n"},
		{name: "filters sent", args: []string{"--force", "--filter", "until=24h", "--filter", "label=a"}, calls: 1,
			filters: `{"label":{"a":true},"until":{"24h":true}}`, wantOut: "Deleted Networks:\nn1\nn2\n\n"},
		{name: "nothing deleted prints nothing", args: []string{"-f"}, calls: 1, noNets: true, wantOut: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nets := []network.Inspect{n1, n2}
			if tc.noNets {
				nets = nil
			}
			d, _ := newFakeDaemon(t, nets...)
			err, out, _ := berth(t, d.host(), tc.input, append([]string{"network", "prune"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.wantOut {
				t.Errorf("got\n%q\nwant\n%q", out, tc.wantOut)
			}
			if d.pruneCalls != tc.calls {
				t.Errorf("prune called %d times, want %d", d.pruneCalls, tc.calls)
			}
			if tc.calls > 0 && d.filters != tc.filters {
				t.Errorf("filters sent %q, want %q", d.filters, tc.filters)
			}
		})
	}
}

func TestDaemonErrorsPassThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("Api-Version", "1.44")
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "boom"})
	}))
	t.Cleanup(srv.Close)
	host := "tcp://" + srv.Listener.Addr().String()
	for _, args := range [][]string{
		{"ls"}, {"create", "x"}, {"connect", "n", "c"}, {"disconnect", "n", "c"}, {"prune", "-f"},
	} {
		err, _, _ := berth(t, host, "", append([]string{"network"}, args...)...)
		if err == nil || err.Error() != "Error response from daemon: boom" || command.ExitCode(err) != 1 {
			t.Errorf("%v: %v", args, err)
		}
	}
}
