package system

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/api/types/sysinfo"
	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/internal/version"
)

// fakeDaemon serves /_ping, /info and /version; info is sent as given, so
// a test controls exactly which fields (VolumeQuota among them) exist.
func fakeDaemon(t *testing.T, info any, infoStatus int) *client.Client {
	t.Helper()
	mux := http.NewServeMux()
	ping := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		_, _ = w.Write([]byte("OK"))
	}
	mux.HandleFunc("HEAD /_ping", ping)
	mux.HandleFunc("GET /_ping", ping)
	mux.HandleFunc("GET /{v}/info", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("v") != "v1.44" {
			t.Errorf("info asked with API version %s, want the negotiated v1.44", r.PathValue("v"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(infoStatus)
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("GET /{v}/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(system.VersionResponse{
			Platform: system.PlatformInfo{Name: "Berth Engine"},
			Version:  "9.9.9", APIVersion: "1.44", MinAPIVersion: "1.24", Os: "linux", Arch: "amd64",
			Components: []system.ComponentVersion{{Name: "Engine", Version: "9.9.9", Details: map[string]string{
				"ApiVersion": "1.44", "MinAPIVersion": "1.24", "GitCommit": "abc123", "GoVersion": "go1.99",
				"Os": "linux", "Arch": "amd64", "KernelVersion": "6.1", "BuildTime": "2026-01-02T03:04:05Z",
				"Experimental": "false",
			}}},
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return api
}

func berthInfo(q sysinfo.VolumeQuota) sysinfo.Info {
	return sysinfo.Info{
		Info: system.Info{
			ID: "abc", Containers: 2, ContainersRunning: 1, ContainersStopped: 1, Images: 3,
			ServerVersion: "9.9.9", LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: "2",
			Plugins:       system.PluginsInfo{Volume: []string{"local"}},
			Swarm:         swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
			KernelVersion: "6.1", OperatingSystem: "Debian", OSType: "linux", Architecture: "x86_64",
			NCPU: 4, MemTotal: 8 << 30, Name: "host", DockerRootDir: "/var/lib/berth",
			Labels: []string{"tier=db"}, Warnings: []string{"WARNING: no swap limit support"},
		},
		VolumeQuota: q,
	}
}

func TestInfoPretty(t *testing.T) {
	api := fakeDaemon(t, berthInfo(sysinfo.VolumeQuota{MaxVolumes: 10, Volumes: 3}), http.StatusOK)
	var out, errOut bytes.Buffer
	err := runInfo(context.Background(), api, &out, &errOut, infoOptions{host: "unix:///run/berth.sock"})
	if err != nil {
		t.Fatal(err)
	}
	want := `Client:
 Version:    ` + version.Version + `
 Host:       unix:///run/berth.sock
 Debug Mode: false

Server:
 Containers: 2
  Running: 1
  Paused: 0
  Stopped: 1
 Images: 3
 Volume Quota: 3 of 10 volumes in use (max-volumes=10)
 Server Version: 9.9.9
 Logging Driver: json-file
 Cgroup Driver: cgroupfs
 Cgroup Version: 2
 Plugins:
  Volume: local
  Network: 
  Log: 
 Swarm: inactive
 Kernel Version: 6.1
 Operating System: Debian
 OSType: linux
 Architecture: x86_64
 CPUs: 4
 Total Memory: 8GiB
 Name: host
 ID: abc
 Berth Root Dir: /var/lib/berth
 Debug Mode: false
 Labels:
  tier=db
 Experimental: false
 Live Restore Enabled: false

`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if errOut.String() != "WARNING: no swap limit support\n" {
		t.Errorf("warnings: %q", errOut.String())
	}
}

func TestInfoQuotaLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		info any
		want string // "" means no quota line at all
	}{
		{"limited", berthInfo(sysinfo.VolumeQuota{MaxVolumes: 10, Volumes: 3}), " Volume Quota: 3 of 10 volumes in use (max-volumes=10)\n"},
		{"unlimited", berthInfo(sysinfo.VolumeQuota{MaxVolumes: 0, Volumes: 3}), " Volume Quota: 3 volumes, unlimited (max-volumes=0)\n"},
		{"not a berthd", berthInfo(sysinfo.VolumeQuota{}).Info, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fakeDaemon(t, tc.info, http.StatusOK)
			var out bytes.Buffer
			if err := runInfo(context.Background(), api, &out, &bytes.Buffer{}, infoOptions{}); err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(out.String(), "Volume Quota:")
			if tc.want == "" && has || tc.want != "" && !strings.Contains(out.String(), tc.want) {
				t.Errorf("want %q in\n%s", tc.want, out.String())
			}
		})
	}
}

func TestInfoFormat(t *testing.T) {
	api := fakeDaemon(t, berthInfo(sysinfo.VolumeQuota{MaxVolumes: 10, Volumes: 3}), http.StatusOK)
	for _, tc := range []struct{ format, want string }{
		{"{{.ServerVersion}} {{.VolumeQuota.Volumes}}/{{.VolumeQuota.MaxVolumes}}", "9.9.9 3/10\n"},
		{"{{json .VolumeQuota}}", `{"MaxVolumes":10,"Volumes":3}` + "\n"},
		{"{{.ClientInfo.Version}}", version.Version + "\n"},
	} {
		var out bytes.Buffer
		if err := runInfo(context.Background(), api, &out, &bytes.Buffer{}, infoOptions{format: tc.format}); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, out.String(), tc.want)
		}
	}

	// --format json is {{json .}}: the daemon's fields at the top level.
	var out bytes.Buffer
	if err := runInfo(context.Background(), api, &out, &bytes.Buffer{}, infoOptions{format: "json"}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if got["ServerVersion"] != "9.9.9" || got["VolumeQuota"] == nil || got["ClientInfo"] == nil {
		t.Errorf("json = %s", out.String())
	}

	err := runInfo(context.Background(), api, &bytes.Buffer{}, &bytes.Buffer{}, infoOptions{format: "{{"})
	if command.ExitCode(err) != 64 || err.Error() != "template parsing error: template: :1: unclosed action" {
		t.Errorf("bad template: %v", err)
	}
}

func TestInfoDaemonError(t *testing.T) {
	api := fakeDaemon(t, map[string]string{"message": "boom"}, http.StatusInternalServerError)
	var out bytes.Buffer
	err := runInfo(context.Background(), api, &out, &bytes.Buffer{}, infoOptions{})
	if err == nil || err.Error() != "Error response from daemon: boom" {
		t.Errorf("err = %v", err)
	}
	if !strings.HasSuffix(out.String(), "\nServer:\n") {
		t.Errorf("client section should be printed first:\n%s", out.String())
	}
}

func TestQuotaText(t *testing.T) {
	if got := quotaText(sysinfo.VolumeQuota{MaxVolumes: 10, Volumes: 3}); got != "3 of 10 volumes in use (max-volumes=10)" {
		t.Error(got)
	}
	if got := quotaText(sysinfo.VolumeQuota{Volumes: 3}); got != "3 volumes, unlimited (max-volumes=0)" {
		t.Error(got)
	}
}

func TestVersion(t *testing.T) {
	api := fakeDaemon(t, nil, http.StatusOK)
	var out bytes.Buffer
	if err := runVersion(context.Background(), api, &out, versionOptions{}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, line := range []string{
		"Client:\n Version:           " + version.Version + "\n",
		" API version:       1.44 (downgraded from " + client.MaxAPIVersion + ")\n",
		"\n\nServer: Berth Engine\n Engine:\n  Version:          9.9.9\n",
		"  API version:      1.44 (minimum version 1.24)\n",
		"  Git commit:       abc123\n",
		"  Built:            Fri Jan  2 03:04:05 2026\n",
		"  OS/Arch:          linux/amd64\n  Experimental:     false\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("missing %q in\n%s", line, got)
		}
	}

	out.Reset()
	if err := runVersion(context.Background(), api, &out, versionOptions{format: "{{.Server.GitCommit}} {{.Server.KernelVersion}} {{.Client.APIVersion}}"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "abc123 6.1 1.44\n" {
		t.Errorf("template: %q", out.String())
	}

	err := runVersion(context.Background(), api, &bytes.Buffer{}, versionOptions{format: "{{"})
	if command.ExitCode(err) != 64 || err.Error() != "template parsing error: template: version:1: unclosed action" {
		t.Errorf("bad template: %v", err)
	}
}
