package network

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/types/filters"
)

// fake is a Backend that records each call's arguments under the method's
// name and answers with err (nil: success) or canned results.
type fake struct {
	mu    sync.Mutex
	calls map[string][]any
	err   error

	nets     []network.Summary
	inspects map[string]network.Inspect
	pruneRep network.PruneReport
}

func newFake() *fake { return &fake{calls: map[string][]any{}, inspects: map[string]network.Inspect{}} }

func (f *fake) rec(method string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method] = args
	return f.err
}

func (f *fake) args(t *testing.T, method string) []any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.calls[method]
	if !ok {
		t.Fatalf("%s was not called (calls: %v)", method, f.calls)
	}
	return a
}

func (f *fake) called(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.calls[method]
	return ok
}

func (f *fake) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string][]any{}
	f.err = nil
}

func (f *fake) NetworkCreate(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if err := f.rec("NetworkCreate", req); err != nil {
		return network.CreateResponse{}, err
	}
	return network.CreateResponse{ID: "n" + strings.Repeat("0", 63)}, nil
}

func (f *fake) NetworkInspect(_ context.Context, name string, verbose bool, scope string) (network.Inspect, error) {
	if err := f.rec("NetworkInspect", name, verbose, scope); err != nil {
		return network.Inspect{}, err
	}
	nw, ok := f.inspects[name]
	if !ok {
		return network.Inspect{}, cerrdefs.ErrNotFound.WithMessage("network " + name + " not found")
	}
	return nw, nil
}

func (f *fake) NetworkList(_ context.Context, a filters.Args) ([]network.Summary, error) {
	return f.nets, f.rec("NetworkList", a)
}

func (f *fake) NetworkRemove(_ context.Context, name string) error {
	return f.rec("NetworkRemove", name)
}

func (f *fake) NetworkConnect(_ context.Context, name string, req network.ConnectRequest) error {
	return f.rec("NetworkConnect", name, req)
}

func (f *fake) NetworkDisconnect(_ context.Context, name string, req network.DisconnectRequest) error {
	return f.rec("NetworkDisconnect", name, req)
}

func (f *fake) NetworksPrune(_ context.Context, a filters.Args) (network.PruneReport, error) {
	return f.pruneRep, f.rec("NetworksPrune", a)
}

var _ Backend = (*fake)(nil)

// newServer serves the router over the real API server (versions
// 1.24-1.44, middleware and all) on a real listener.
func newServer(t *testing.T, f *fake) *httptest.Server {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := server.New(server.Config{Versions: middleware.Versions{Min: "1.24", Max: "1.44", Server: "test"}, Log: log}, New(f))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type response struct {
	code int
	body string
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b)}
}

func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %q", r.code, code, r.body)
	}
}

// wantError checks the status and that the {"message": ...} body is msg
// exactly.
func wantError(t *testing.T, r response, code int, msg string) {
	t.Helper()
	wantStatus(t, r, code)
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Message == "" {
		t.Fatalf("error body %q is not {\"message\": ...}", r.body)
	}
	if e.Message != msg {
		t.Fatalf("message %q, want %q", e.Message, msg)
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

func filtersQuery(s string) string {
	return "?filters=" + strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", ":", "%3A", ",", "%2C", " ", "%20", "!", "%21").Replace(s)
}

func summary(id, name string) network.Summary {
	return network.Summary{Network: network.Network{ID: id, Name: name, Driver: "bridge", Scope: "local"}}
}

func TestList(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	// No networks is an empty array, never null.
	for _, p := range []string{"/networks", "/networks/", "/v1.44/networks", "/v1.44/networks/"} {
		r := do(t, ts, "GET", p, "")
		wantStatus(t, r, http.StatusOK)
		if strings.TrimSpace(r.body) != "[]" {
			t.Fatalf("%s: body %q", p, r.body)
		}
	}

	f.nets = []network.Summary{summary("aaaa", "bridge"), summary("bbbb", "mynet")}
	r := do(t, ts, "GET", "/networks", "")
	wantStatus(t, r, http.StatusOK)
	var got []network.Summary
	decode(t, r.body, &got)
	if len(got) != 2 || got[0].ID != "aaaa" || got[1].Name != "mynet" || got[0].Driver != "bridge" || got[0].Scope != "local" {
		t.Fatalf("list %+v", got)
	}

	// Every accepted filter reaches the backend as given, in both wire forms.
	q := `{"driver":{"bridge":true},"id":{"aa":true},"label":{"a=b":true},"name":{"my":true},"scope":{"local":true},"type":{"custom":true,"builtin":true},"dangling":{"true":true}}`
	wantStatus(t, do(t, ts, "GET", "/networks"+filtersQuery(q), ""), http.StatusOK)
	a := f.args(t, "NetworkList")[0].(filters.Args)
	for k, v := range map[string]string{"driver": "bridge", "id": "aa", "label": "a=b", "name": "my", "scope": "local", "dangling": "true"} {
		if !a.ExactMatch(k, v) || len(a[k]) != 1 {
			t.Fatalf("filter %s: %v", k, a)
		}
	}
	if len(a.Get("type")) != 2 {
		t.Fatalf("type filter: %v", a)
	}
	wantStatus(t, do(t, ts, "GET", "/networks"+filtersQuery(`{"name":["my"],"dangling":["0"]}`), ""), http.StatusOK)
	if a := f.args(t, "NetworkList")[0].(filters.Args); !a.ExactMatch("name", "my") || !a.ExactMatch("dangling", "0") {
		t.Fatalf("legacy filters: %v", a)
	}
}

func TestListFilterValidation(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	for _, tc := range []struct{ filters, msg string }{
		{`{"status":{"x":true}}`, "invalid filter 'status'"},
		{`{"label!":{"x":true}}`, "invalid filter 'label!'"},
		{`{"until":{"1h":true}}`, "invalid filter 'until'"},
		{`{"type":{"other":true}}`, "invalid filter: 'type'='other'"},
		{`{"dangling":{"yes":true}}`, `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`},
		{`{"dangling":{"TRUE":true}}`, `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`},
		{`{"dangling":{"true":true,"false":true}}`, `got more than one value for filter key "dangling"`},
	} {
		f.reset()
		wantError(t, do(t, ts, "GET", "/networks"+filtersQuery(tc.filters), ""), http.StatusBadRequest, tc.msg)
		if f.called("NetworkList") {
			t.Fatalf("%s: backend called on an invalid filter", tc.filters)
		}
	}
	r := do(t, ts, "GET", "/networks?filters=notjson", "")
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, "invalid filter") {
		t.Fatalf("body %q", r.body)
	}
}

func TestListBackendError(t *testing.T) {
	f := newFake()
	f.err = cerrdefs.ErrUnavailable.WithMessage("networking is starting")
	ts := newServer(t, f)
	wantError(t, do(t, ts, "GET", "/networks", ""), http.StatusServiceUnavailable, "networking is starting")
}

// Before API 1.28 the list is of full network objects, fetched one by one;
// one removed in between is left out.
func TestListOldAPI(t *testing.T) {
	f := newFake()
	f.nets = []network.Summary{summary("aaaa", "bridge"), summary("gone", "x"), summary("bbbb", "mynet")}
	f.inspects["aaaa"] = network.Inspect{Network: f.nets[0].Network, Containers: map[string]network.EndpointResource{"c1": {Name: "web"}}}
	f.inspects["bbbb"] = network.Inspect{Network: f.nets[2].Network, Containers: map[string]network.EndpointResource{}}
	ts := newServer(t, f)

	r := do(t, ts, "GET", "/v1.27/networks", "")
	wantStatus(t, r, http.StatusOK)
	var got []network.Inspect
	decode(t, r.body, &got)
	if len(got) != 2 || got[0].ID != "aaaa" || got[0].Containers["c1"].Name != "web" || got[1].ID != "bbbb" {
		t.Fatalf("old list %+v", got)
	}
	if !strings.Contains(r.body, `"Containers"`) {
		t.Fatalf("old list without Containers: %s", r.body)
	}

	r = do(t, ts, "GET", "/v1.28/networks", "")
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(r.body, `"Containers"`) {
		t.Fatalf("1.28 list has Containers: %s", r.body)
	}
}

func TestInspect(t *testing.T) {
	f := newFake()
	f.inspects["mynet"] = network.Inspect{
		Network:    network.Network{ID: "abcd", Name: "mynet", Driver: "bridge", Scope: "local"},
		Containers: map[string]network.EndpointResource{"c1": {Name: "web", IPv4Address: netip.MustParsePrefix("172.18.0.2/16")}},
	}
	ts := newServer(t, f)

	r := do(t, ts, "GET", "/networks/mynet", "")
	wantStatus(t, r, http.StatusOK)
	var got network.Inspect
	decode(t, r.body, &got)
	if got.ID != "abcd" || got.Containers["c1"].IPv4Address.String() != "172.18.0.2/16" {
		t.Fatalf("inspect %+v", got)
	}
	if a := f.args(t, "NetworkInspect"); a[0] != "mynet" || a[1] != false || a[2] != "" {
		t.Fatalf("args %v", a)
	}

	wantStatus(t, do(t, ts, "GET", "/v1.44/networks/mynet?verbose=true&scope=local", ""), http.StatusOK)
	if a := f.args(t, "NetworkInspect"); a[0] != "mynet" || a[1] != true || a[2] != "local" {
		t.Fatalf("args %v", a)
	}
	wantStatus(t, do(t, ts, "GET", "/networks/mynet?verbose=0", ""), http.StatusOK)
	if a := f.args(t, "NetworkInspect"); a[1] != false {
		t.Fatalf("verbose=0: %v", a)
	}

	f.reset()
	wantError(t, do(t, ts, "GET", "/networks/mynet?verbose=maybe", ""), http.StatusBadRequest,
		`invalid value for verbose: maybe: strconv.ParseBool: parsing "maybe": invalid syntax`)
	if f.called("NetworkInspect") {
		t.Fatal("backend called with a bad verbose")
	}

	wantError(t, do(t, ts, "GET", "/networks/nope", ""), http.StatusNotFound, "network nope not found")
	f.err = cerrdefs.ErrInvalidArgument.WithMessage("network ab is ambiguous (2 matches found based on ID prefix)")
	wantError(t, do(t, ts, "GET", "/networks/ab", ""), http.StatusBadRequest, "network ab is ambiguous (2 matches found based on ID prefix)")
}

func TestCreate(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	body := `{"Name":"mynet","Driver":"bridge","EnableIPv6":true,"Internal":true,"Attachable":true,` +
		`"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.1.2.0/24","Gateway":"10.1.0.1"}]},` +
		`"Options":{"com.docker.network.bridge.name":"br9"},"Labels":{"a":"b"},"CheckDuplicate":true}`
	r := do(t, ts, "POST", "/v1.44/networks/create", body)
	wantStatus(t, r, http.StatusCreated)
	var resp network.CreateResponse
	decode(t, r.body, &resp)
	if resp.ID != "n"+strings.Repeat("0", 63) || !strings.Contains(r.body, `"Warning":""`) {
		t.Fatalf("response %s", r.body)
	}
	req := f.args(t, "NetworkCreate")[0].(network.CreateRequest)
	if req.Name != "mynet" || req.Driver != "bridge" || req.EnableIPv6 == nil || !*req.EnableIPv6 || !req.Internal || !req.Attachable ||
		req.Options["com.docker.network.bridge.name"] != "br9" || req.Labels["a"] != "b" || req.IPAM == nil || len(req.IPAM.Config) != 1 {
		t.Fatalf("request %+v", req)
	}
	c := req.IPAM.Config[0]
	if c.Subnet.String() != "10.1.0.0/16" || c.IPRange.String() != "10.1.2.0/24" || c.Gateway.String() != "10.1.0.1" {
		t.Fatalf("ipam %+v", c)
	}

	// EnableIPv4 is API 1.48's: an older request cannot carry it.
	wantStatus(t, do(t, ts, "POST", "/networks/create", `{"Name":"n4","EnableIPv4":false}`), http.StatusCreated)
	if req := f.args(t, "NetworkCreate")[0].(network.CreateRequest); req.EnableIPv4 != nil {
		t.Fatalf("EnableIPv4 passed on 1.44: %v", *req.EnableIPv4)
	}

	// A duplicate is the backend's to find, and keeps its class.
	f.err = cerrdefs.ErrConflict.WithMessage("network with name mynet already exists")
	wantError(t, do(t, ts, "POST", "/networks/create", `{"Name":"mynet"}`), http.StatusConflict, "network with name mynet already exists")
	f.err = cerrdefs.ErrNotFound.WithMessage(`could not find plugin weave in v1 plugin registry: plugin not found`)
	wantStatus(t, do(t, ts, "POST", "/networks/create", `{"Name":"x","Driver":"weave"}`), http.StatusNotFound)
}

func TestCreateRefused(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"Driver":"bridge"}`, 400, "invalid name: "},
		{`{"Name":"  "}`, 400, "invalid name:   "},
		{"", 400, "invalid name: "},
		{`{"Name":"bridge"}`, 403, "operation is not permitted on predefined bridge network "},
		{`{"Name":"host"}`, 403, "operation is not permitted on predefined host network "},
		{`{"Name":"none"}`, 403, "operation is not permitted on predefined none network "},
		{`{"Name":"default"}`, 403, "operation is not permitted on predefined default network "},
	} {
		wantError(t, do(t, ts, "POST", "/networks/create", tc.body), tc.code, tc.msg)
	}
	for _, bad := range []string{`{bad`, `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/99"}]}}`, `{"Name":"x"} {}`} {
		r := do(t, ts, "POST", "/networks/create", bad)
		wantStatus(t, r, http.StatusBadRequest)
		if !strings.Contains(r.body, "invalid JSON") {
			t.Fatalf("%s: body %q", bad, r.body)
		}
	}
	if f.called("NetworkCreate") {
		t.Fatal("backend called on a refused create")
	}
}

func TestRemove(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	r := do(t, ts, "DELETE", "/networks/mynet", "")
	wantStatus(t, r, http.StatusNoContent)
	if r.body != "" {
		t.Fatalf("body %q", r.body)
	}
	if a := f.args(t, "NetworkRemove"); a[0] != "mynet" {
		t.Fatalf("args %v", a)
	}
	// Names that look like the other routes are still names.
	for _, name := range []string{"create", "prune"} {
		wantStatus(t, do(t, ts, "DELETE", "/v1.44/networks/"+name, ""), http.StatusNoContent)
		if a := f.args(t, "NetworkRemove"); a[0] != name {
			t.Fatalf("args %v", a)
		}
	}

	f.err = cerrdefs.ErrNotFound.WithMessage("network nope not found")
	wantError(t, do(t, ts, "DELETE", "/networks/nope", ""), http.StatusNotFound, "network nope not found")
	f.err = cerrdefs.ErrPermissionDenied.WithMessage("bridge is a pre-defined network and cannot be removed")
	wantError(t, do(t, ts, "DELETE", "/networks/bridge", ""), http.StatusForbidden, "bridge is a pre-defined network and cannot be removed")
	f.err = cerrdefs.ErrConflict.WithMessage("error while removing network: network mynet id abcd has active endpoints")
	wantError(t, do(t, ts, "DELETE", "/networks/mynet", ""), http.StatusConflict, "error while removing network: network mynet id abcd has active endpoints")
}

func TestConnect(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	body := `{"Container":"web","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.2.3","IPv6Address":"fd00::3"},` +
		`"Links":["db:database"],"Aliases":["x","y"],"DriverOpts":{"a":"b"},"MacAddress":"","Gateway":"","IPAddress":""}}`
	r := do(t, ts, "POST", "/v1.44/networks/mynet/connect", body)
	wantStatus(t, r, http.StatusOK)
	a := f.args(t, "NetworkConnect")
	req := a[1].(network.ConnectRequest)
	if a[0] != "mynet" || req.Container != "web" || req.EndpointConfig == nil {
		t.Fatalf("args %v", a)
	}
	ep := req.EndpointConfig
	if ep.IPAMConfig.IPv4Address.String() != "10.1.2.3" || ep.IPAMConfig.IPv6Address.String() != "fd00::3" ||
		len(ep.Links) != 1 || ep.Links[0] != "db:database" || len(ep.Aliases) != 2 || ep.DriverOpts["a"] != "b" {
		t.Fatalf("endpoint %+v", ep)
	}

	// No endpoint config at all is the backend's default.
	wantStatus(t, do(t, ts, "POST", "/networks/mynet/connect", `{"Container":"web"}`), http.StatusOK)
	if req := f.args(t, "NetworkConnect")[1].(network.ConnectRequest); req.EndpointConfig != nil {
		t.Fatalf("endpoint %+v", req.EndpointConfig)
	}

	f.reset()
	wantError(t, do(t, ts, "POST", "/networks/mynet/connect", `{}`), http.StatusBadRequest, `invalid name or ID supplied: ""`)
	wantError(t, do(t, ts, "POST", "/networks/mynet/connect", ""), http.StatusBadRequest, `invalid name or ID supplied: ""`)
	r = do(t, ts, "POST", "/networks/mynet/connect", `{"Container":"web","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.2"}}}`)
	wantStatus(t, r, http.StatusBadRequest)
	if f.called("NetworkConnect") {
		t.Fatal("backend called on a refused connect")
	}

	f.err = cerrdefs.ErrNotFound.WithMessage("No such container: nope")
	wantError(t, do(t, ts, "POST", "/networks/mynet/connect", `{"Container":"nope"}`), http.StatusNotFound, "No such container: nope")
	f.err = cerrdefs.ErrPermissionDenied.WithMessage("endpoint with name web already exists in network mynet")
	wantError(t, do(t, ts, "POST", "/networks/mynet/connect", `{"Container":"web"}`), http.StatusForbidden, "endpoint with name web already exists in network mynet")
}

func TestDisconnect(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	wantStatus(t, do(t, ts, "POST", "/v1.44/networks/mynet/disconnect", `{"Container":"web","Force":true}`), http.StatusOK)
	a := f.args(t, "NetworkDisconnect")
	if req := a[1].(network.DisconnectRequest); a[0] != "mynet" || req.Container != "web" || !req.Force {
		t.Fatalf("args %v", a)
	}
	wantStatus(t, do(t, ts, "POST", "/networks/mynet/disconnect", `{"Container":"web"}`), http.StatusOK)
	if req := f.args(t, "NetworkDisconnect")[1].(network.DisconnectRequest); req.Force {
		t.Fatal("force without asking")
	}

	f.reset()
	wantError(t, do(t, ts, "POST", "/networks/mynet/disconnect", `{"Force":true}`), http.StatusBadRequest, `invalid name or ID supplied: ""`)
	if f.called("NetworkDisconnect") {
		t.Fatal("backend called on a refused disconnect")
	}
	f.err = cerrdefs.ErrPermissionDenied.WithMessage("container web is not connected to network mynet")
	wantError(t, do(t, ts, "POST", "/networks/mynet/disconnect", `{"Container":"web"}`), http.StatusForbidden, "container web is not connected to network mynet")
}

func TestPrune(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)

	// Nothing deleted is an empty array, never null.
	r := do(t, ts, "POST", "/networks/prune", "")
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"NetworksDeleted":[]}` {
		t.Fatalf("body %q", r.body)
	}

	f.pruneRep = network.PruneReport{NetworksDeleted: []string{"a", "b"}}
	r = do(t, ts, "POST", "/v1.44/networks/prune"+filtersQuery(`{"until":{"24h":true},"label":{"a=b":true},"label!":{"keep":true}}`), "")
	wantStatus(t, r, http.StatusOK)
	var rep network.PruneReport
	decode(t, r.body, &rep)
	if len(rep.NetworksDeleted) != 2 || rep.NetworksDeleted[1] != "b" {
		t.Fatalf("report %+v", rep)
	}
	a := f.args(t, "NetworksPrune")[0].(filters.Args)
	if !a.ExactMatch("until", "24h") || !a.ExactMatch("label", "a=b") || !a.ExactMatch("label!", "keep") {
		t.Fatalf("filters %v", a)
	}

	f.reset()
	wantError(t, do(t, ts, "POST", "/networks/prune"+filtersQuery(`{"dangling":{"true":true}}`), ""), http.StatusBadRequest, "invalid filter 'dangling'")
	wantError(t, do(t, ts, "POST", "/networks/prune"+filtersQuery(`{"until":{"1h":true,"2h":true}}`), ""), http.StatusBadRequest, "more than one until filter specified")
	wantError(t, do(t, ts, "POST", "/v1.24/networks/prune", ""), http.StatusBadRequest, "POST /v1.24/networks/prune requires minimum API version 1.25")
	if f.called("NetworksPrune") {
		t.Fatal("backend called on a refused prune")
	}
	f.err = cerrdefs.ErrInvalidArgument.WithMessage("invalid filter 'until=x': want a timestamp or a duration")
	wantError(t, do(t, ts, "POST", "/networks/prune"+filtersQuery(`{"until":{"x":true}}`), ""), http.StatusBadRequest, "invalid filter 'until=x': want a timestamp or a duration")
}

// Methods and paths the router does not serve answer as the server's other
// unknown routes do.
func TestUnknownRoutes(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantError(t, do(t, ts, "PUT", "/networks/mynet", ""), http.StatusNotFound, "page not found")
	wantError(t, do(t, ts, "GET", "/networks/mynet/connect/x?", ""), http.StatusNotFound, "network mynet/connect/x not found")
	wantError(t, do(t, ts, "GET", "/v1.45/networks", ""), http.StatusBadRequest, "client version 1.45 is too new. Maximum supported API version is 1.44")
}
