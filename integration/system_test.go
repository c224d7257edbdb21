package integration

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/system"
)

// pathPrefixes are the forms every route is served under.
var pathPrefixes = []string{"", "/v" + apiVersion, "/v1.24", "/v1.41"}

func TestPing(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range pathPrefixes {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			path := prefix + "/_ping"
			r := d.do(method, path, nil)
			what := method + " " + path
			expectStatus(t, r, http.StatusOK, what)
			h := r.header
			for k, want := range map[string]string{
				"Api-Version":         apiVersion,
				"Ostype":              "linux",
				"Docker-Experimental": "false",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: header %s = %q, want %q", what, k, got, want)
				}
			}
			if h.Get("Builder-Version") == "" {
				t.Errorf("%s: no Builder-Version header", what)
			}
			if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
				t.Errorf("%s: Cache-Control = %q, want no-cache", what, cc)
			}
			if p := h.Get("Pragma"); p != "no-cache" {
				t.Errorf("%s: Pragma = %q, want no-cache", what, p)
			}
			if sw := h.Get("Swarm"); sw != "inactive" {
				t.Errorf("%s: Swarm = %q, want inactive", what, sw)
			}
			switch method {
			case http.MethodGet:
				if string(r.body) != "OK" {
					t.Errorf("%s: body %q, want OK", what, r.body)
				}
			case http.MethodHead:
				if len(r.body) != 0 {
					t.Errorf("%s: body %q, want none", what, r.body)
				}
			}
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range pathPrefixes {
		r := d.do(http.MethodGet, prefix+"/version", nil)
		expectStatus(t, r, http.StatusOK, "GET "+prefix+"/version")
		if got := r.header.Get("Api-Version"); got != apiVersion {
			t.Errorf("Api-Version header = %q, want %q", got, apiVersion)
		}
		var v system.VersionResponse
		r.decode(t, &v)
		if v.Version == "" || v.GoVersion == "" || v.KernelVersion == "" || v.GitCommit == "" {
			t.Errorf("GET /version has empty fields: %s", r.body)
		}
		if v.APIVersion != apiVersion || v.MinAPIVersion != "1.24" {
			t.Errorf("ApiVersion %q MinAPIVersion %q, want %s and 1.24", v.APIVersion, v.MinAPIVersion, apiVersion)
		}
		if v.Os != "linux" || v.Arch != runtime.GOARCH {
			t.Errorf("Os/Arch = %s/%s, want linux/%s", v.Os, v.Arch, runtime.GOARCH)
		}
		if len(v.Components) == 0 || v.Components[0].Name != "Engine" || v.Components[0].Version != v.Version {
			t.Errorf("Components = %+v, want an Engine component of version %s", v.Components, v.Version)
		}
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 7})
	d.createVolume("one", nil)
	d.createVolume("", nil)
	hostname, _ := os.Hostname()
	for _, prefix := range pathPrefixes {
		r := d.do(http.MethodGet, prefix+"/info", nil)
		expectStatus(t, r, http.StatusOK, "GET "+prefix+"/info")
		var info infoResponse
		r.decode(t, &info)
		if info.ServerVersion == "" || info.KernelVersion == "" || info.Architecture == "" || info.ID == "" {
			t.Errorf("GET /info has empty fields: ServerVersion %q KernelVersion %q Architecture %q ID %q",
				info.ServerVersion, info.KernelVersion, info.Architecture, info.ID)
		}
		if info.OSType != "linux" {
			t.Errorf("OSType = %q, want linux", info.OSType)
		}
		if info.NCPU <= 0 || info.MemTotal <= 0 {
			t.Errorf("NCPU = %d, MemTotal = %d, want both > 0", info.NCPU, info.MemTotal)
		}
		if info.DockerRootDir != d.dataRoot {
			t.Errorf("DockerRootDir = %q, want the data root %q", info.DockerRootDir, d.dataRoot)
		}
		if info.Name == "" || info.Name != hostname {
			t.Errorf("Name = %q, want the hostname %q", info.Name, hostname)
		}
		if info.VolumeQuota == nil {
			t.Fatalf("no VolumeQuota in %s", r.body)
		}
		if *info.VolumeQuota != (volumeQuota{MaxVolumes: 7, Volumes: 2}) {
			t.Errorf("VolumeQuota = %+v, want {MaxVolumes:7 Volumes:2}", *info.VolumeQuota)
		}
		if string(info.Swarm.LocalNodeState) != "inactive" {
			t.Errorf("Swarm.LocalNodeState = %q, want inactive", info.Swarm.LocalNodeState)
		}
		found := false
		for _, p := range info.Plugins.Volume {
			found = found || p == "local"
		}
		if !found {
			t.Errorf("Plugins.Volume = %v, want it to include local", info.Plugins.Volume)
		}
	}
}

func TestInfoUnlimitedQuota(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	d.expectQuota(0, 0)
	d.createVolume("a", nil)
	d.expectQuota(0, 1)
}

func TestSwarmEndpoints(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range []string{"", "/v" + apiVersion} {
		r := d.do(http.MethodGet, prefix+"/swarm", nil)
		expectError(t, r, http.StatusServiceUnavailable, "This node is not a swarm manager.", "GET /swarm")
		if !strings.HasPrefix(r.message(), "This node is not a swarm manager.") {
			t.Errorf("GET /swarm message %q", r.message())
		}
		r = d.do(http.MethodPost, prefix+"/swarm/leave?force=1", nil)
		expectError(t, r, http.StatusServiceUnavailable, "", "POST /swarm/leave")
		for _, p := range []string{"/nodes", "/services", "/tasks", "/secrets", "/configs"} {
			r = d.do(http.MethodGet, prefix+p, nil)
			expectError(t, r, http.StatusServiceUnavailable, "This node is not a swarm manager.", "GET "+p)
		}
		r = d.do(http.MethodPost, prefix+"/swarm/init", `{"ListenAddr":"0.0.0.0:2377"}`)
		expectError(t, r, http.StatusServiceUnavailable, "", "POST /swarm/init")
	}
}

func TestPluginEndpoints(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range []string{"", "/v" + apiVersion} {
		r := d.do(http.MethodGet, prefix+"/plugins", nil)
		expectStatus(t, r, http.StatusOK, "GET /plugins")
		var plugins []any
		r.decode(t, &plugins)
		if plugins == nil || len(plugins) != 0 {
			t.Errorf("GET /plugins = %s, want []", r.body)
		}
		r = d.do(http.MethodGet, prefix+"/plugins/nosuch/json", nil)
		expectError(t, r, http.StatusNotFound, "nosuch", "GET /plugins/nosuch/json")
	}
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodGet, "/v" + apiVersion + "/nope"},
		{http.MethodPost, "/volumes/x/y/z/create"},
		{http.MethodGet, "/"},
		{http.MethodPatch, "/volumes"},
		{http.MethodPost, "/info"},
		{http.MethodDelete, "/_ping"},
	} {
		r := d.do(c.method, c.path, nil)
		expectError(t, r, http.StatusNotFound, "page not found", c.method+" "+c.path)
		if r.message() != "page not found" {
			t.Errorf("%s %s: message %q, want exactly \"page not found\"", c.method, c.path, r.message())
		}
	}
}

func TestAPIVersionRange(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})

	r := d.do(http.MethodGet, "/v1.99/version", nil)
	expectError(t, r, http.StatusBadRequest, "", "GET /v1.99/version")
	if want := "client version 1.99 is too new. Maximum supported API version is " + apiVersion; r.message() != want {
		t.Errorf("GET /v1.99/version: message %q, want %q", r.message(), want)
	}
	r = d.do(http.MethodGet, "/v1.45/info", nil)
	expectError(t, r, http.StatusBadRequest, "is too new", "GET /v1.45/info")
	r = d.do(http.MethodPost, "/v2.0/volumes/create", `{"Name":"x"}`)
	expectError(t, r, http.StatusBadRequest, "is too new", "POST /v2.0/volumes/create")

	for _, p := range []string{"/v1.12/version", "/v1.23/volumes", "/v1.0/_ping"} {
		r = d.do(http.MethodGet, p, nil)
		expectError(t, r, http.StatusBadRequest, "too old", "GET "+p)
	}
	// Every version in the range is accepted.
	for _, v := range []string{"1.24", "1.30", "1.40", "1.41", "1.42", "1.43", "1.44"} {
		r = d.do(http.MethodGet, "/v"+v+"/version", nil)
		expectStatus(t, r, http.StatusOK, "GET /v"+v+"/version")
	}
	// A refused version creates nothing.
	if n := len(d.listVolumes("")); n != 0 {
		t.Errorf("%d volumes after refused creates, want 0", n)
	}
}
