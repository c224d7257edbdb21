package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// fakeDaemon answers the volume endpoints from memory and records what the
// client sent, so the tests exercise the real moby client on the wire.
type fakeDaemon struct {
	mu         sync.Mutex
	vols       map[string]volume.Volume
	created    volume.CreateRequest
	filters    string // the last filters query seen
	pruneCalls int
}

func newFakeDaemon(t *testing.T, vols ...volume.Volume) (*fakeDaemon, *client.Client) {
	t.Helper()
	d := &fakeDaemon{vols: map[string]volume.Volume{}}
	for _, v := range vols {
		d.vols[v.Name] = v
	}
	mux := http.NewServeMux()
	ping := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		_, _ = w.Write([]byte("OK"))
	}
	mux.HandleFunc("HEAD /_ping", ping)
	mux.HandleFunc("GET /_ping", ping)
	mux.HandleFunc("GET /{v}/volumes", d.list)
	mux.HandleFunc("GET /{v}/volumes/{name}", d.inspect)
	mux.HandleFunc("POST /{v}/volumes/create", d.create)
	mux.HandleFunc("DELETE /{v}/volumes/{name}", d.remove)
	mux.HandleFunc("POST /{v}/volumes/prune", d.prune)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return d, api
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, name string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "get " + name + ": no such volume"})
}

func (d *fakeDaemon) list(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.filters = r.URL.Query().Get("filters")
	resp := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range d.vols {
		resp.Volumes = append(resp.Volumes, v)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (d *fakeDaemon) inspect(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vols[r.PathValue("name")]
	if !ok {
		notFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (d *fakeDaemon) create(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.created = volume.CreateRequest{}
	_ = json.NewDecoder(r.Body).Decode(&d.created)
	name := d.created.Name
	if name == "" {
		name = "0123456789abcdef"
	}
	v := volume.Volume{Name: name, Driver: d.created.Driver, Labels: d.created.Labels, Options: d.created.DriverOpts, Scope: "local"}
	d.vols[name] = v
	writeJSON(w, http.StatusCreated, v)
}

func (d *fakeDaemon) remove(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := r.PathValue("name")
	if _, ok := d.vols[name]; !ok && r.URL.Query().Get("force") != "1" {
		notFound(w, name)
		return
	}
	delete(d.vols, name)
	w.WriteHeader(http.StatusNoContent)
}

func (d *fakeDaemon) prune(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneCalls++
	d.filters = r.URL.Query().Get("filters")
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, name := range slices.Sorted(maps.Keys(d.vols)) {
		rep.VolumesDeleted = append(rep.VolumesDeleted, name)
		rep.SpaceReclaimed += 4096
		delete(d.vols, name)
	}
	writeJSON(w, http.StatusOK, rep)
}

func vol(name string, labels map[string]string) volume.Volume {
	return volume.Volume{Name: name, Driver: "local", Scope: "local", Labels: labels,
		Mountpoint: "/var/lib/berth/volumes/" + name + "/_data", CreatedAt: "2026-01-02T03:04:05Z"}
}

func TestListTable(t *testing.T) {
	_, api := newFakeDaemon(t, vol("vol10", nil), vol("vol2", nil), vol("a", nil))
	var out bytes.Buffer
	if err := runList(context.Background(), api, &out, listOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "DRIVER    VOLUME NAME\nlocal     a\nlocal     vol2\nlocal     vol10\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestListQuietAndFormats(t *testing.T) {
	_, api := newFakeDaemon(t, vol("b", map[string]string{"z": "1", "com.example.team": "x"}), vol("a", nil))
	for _, tc := range []struct {
		name string
		opts listOptions
		want string
	}{
		{"quiet", listOptions{quiet: true}, "a\nb\n"},
		{"quiet table", listOptions{quiet: true, format: "table"}, "a\nb\n"},
		{"format beats quiet", listOptions{quiet: true, format: "{{.Driver}}"}, "local\nlocal\n"},
		{"placeholders", listOptions{format: "{{.Name}}|{{.Scope}}|{{.Mountpoint}}|{{.Labels}}|{{.Links}}|{{.Size}}|{{.CreatedAt}}|{{.Group}}|{{.Availability}}"},
			"a|local|/var/lib/berth/volumes/a/_data||N/A|N/A|2026-01-02T03:04:05Z|N/A|N/A\n" +
				"b|local|/var/lib/berth/volumes/b/_data|com.example.team=x,z=1|N/A|N/A|2026-01-02T03:04:05Z|N/A|N/A\n"},
		{"label column", listOptions{format: "table {{.Name}}\t{{.Label \"com.example.team\"}}"},
			"VOLUME NAME   team\na             \nb             x\n"},
		{"json is docker's object", listOptions{format: "json"},
			`{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"","Links":"N/A","Mountpoint":"/var/lib/berth/volumes/a/_data","Name":"a","Scope":"local","Size":"N/A","Status":"N/A"}` + "\n" +
				`{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"com.example.team=x,z=1","Links":"N/A","Mountpoint":"/var/lib/berth/volumes/b/_data","Name":"b","Scope":"local","Size":"N/A","Status":"N/A"}` + "\n"},
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

func TestListSendsFilters(t *testing.T) {
	d, api := newFakeDaemon(t)
	f := client.Filters{}.Add("dangling", "true").Add("label", "a=b")
	if err := runList(context.Background(), api, &bytes.Buffer{}, listOptions{filters: f}); err != nil {
		t.Fatal(err)
	}
	if d.filters != `{"dangling":{"true":true},"label":{"a=b":true}}` {
		t.Errorf("filters sent: %s", d.filters)
	}
}

func TestCreate(t *testing.T) {
	d, api := newFakeDaemon(t)
	var out bytes.Buffer
	err := runCreate(context.Background(), api, &out, createOptions{
		name: "data", driver: "local",
		driverOpts: map[string]string{"type": "tmpfs"}, labels: map[string]string{"a": "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "data\n" {
		t.Errorf("printed %q", out.String())
	}
	c := d.created
	if c.Name != "data" || c.Driver != "local" || c.DriverOpts["type"] != "tmpfs" || c.Labels["a"] != "b" {
		t.Errorf("request = %+v", c)
	}

	out.Reset()
	if err := runCreate(context.Background(), api, &out, createOptions{driver: "local"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "0123456789abcdef\n" {
		t.Errorf("anonymous volume printed %q", out.String())
	}
}

func TestInspect(t *testing.T) {
	_, api := newFakeDaemon(t, vol("a", map[string]string{"k": "v"}))
	var out bytes.Buffer
	err := runInspect(context.Background(), api, &out, inspectOptions{names: []string{"a", "nope"}})
	if err == nil || err.Error() != "Error response from daemon: get nope: no such volume" {
		t.Errorf("err = %v", err)
	}
	want := `[
    {
        "CreatedAt": "2026-01-02T03:04:05Z",
        "Driver": "local",
        "Labels": {
            "k": "v"
        },
        "Mountpoint": "/var/lib/berth/volumes/a/_data",
        "Name": "a",
        "Options": null,
        "Scope": "local"
    }
]
`
	if out.String() != want {
		t.Errorf("got\n%s", out.String())
	}

	out.Reset()
	if err := runInspect(context.Background(), api, &out, inspectOptions{names: []string{"a"}, format: "{{.Name}}={{.Labels.k}}"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a=v\n" {
		t.Errorf("template: %q", out.String())
	}
}

func TestRemoveKeepsGoing(t *testing.T) {
	d, api := newFakeDaemon(t, vol("a", nil), vol("b", nil))
	var out bytes.Buffer
	err := runRemove(context.Background(), api, &out, removeOptions{names: []string{"a", "nope", "b", "gone"}})
	if out.String() != "a\nb\n" {
		t.Errorf("printed %q", out.String())
	}
	want := "Error response from daemon: get nope: no such volume\nError response from daemon: get gone: no such volume"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	if len(d.vols) != 0 {
		t.Errorf("left %v", d.vols)
	}

	out.Reset()
	if err := runRemove(context.Background(), api, &out, removeOptions{names: []string{"nope"}, force: true}); err != nil {
		t.Errorf("force: %v", err)
	}
	if out.String() != "nope\n" {
		t.Errorf("force printed %q", out.String())
	}
}

func TestPrune(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      pruneOptions
		input     string
		calls     int
		filters   string
		wantOut   string
		wantError string
	}{
		{name: "declined", input: "n\n", calls: 0,
			wantOut: pruneWarning + " [y/N] "},
		{name: "no input declines", input: "", calls: 0,
			wantOut: pruneWarning + " [y/N] "},
		{name: "yes only", input: "yes\n", calls: 0,
			wantOut: pruneWarning + " [y/N] "},
		{name: "confirmed", input: "Y\n", calls: 1,
			wantOut: pruneWarning + " [y/N] Deleted Volumes:\na\nb\n\nTotal reclaimed space: 8.192kB\n"},
		{name: "forced all", opts: pruneOptions{force: true, all: true}, calls: 1, filters: `{"all":{"true":true}}`,
			wantOut: "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 8.192kB\n"},
		{name: "all asks the stronger question", opts: pruneOptions{all: true}, input: "n\n",
			wantOut: pruneAllWarning + " [y/N] "},
		{name: "filters sent", opts: pruneOptions{force: true, filters: client.Filters{}.Add("label", "x")}, calls: 1,
			filters: `{"label":{"x":true}}`, wantOut: "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 8.192kB\n"},
		{name: "all twice", opts: pruneOptions{force: true, all: true, filters: client.Filters{}.Add("all", "1")},
			wantError: "conflicting options: cannot specify both --all and --filter all=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, api := newFakeDaemon(t, vol("a", nil), vol("b", nil))
			var out bytes.Buffer
			err := runPrune(context.Background(), api, strings.NewReader(tc.input), &out, tc.opts)
			if tc.wantError != "" {
				if err == nil || err.Error() != tc.wantError {
					t.Fatalf("err = %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wantOut {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.wantOut)
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

func TestPruneReportNothingDeleted(t *testing.T) {
	var out bytes.Buffer
	// Space reported without deletions is not claimed, as in docker.
	if err := writePruneReport(&out, volume.PruneReport{SpaceReclaimed: 99}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Total reclaimed space: 0B\n" {
		t.Errorf("got %q", out.String())
	}
}
