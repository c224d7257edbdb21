package spec

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNamespaces(t *testing.T) {
	fakeHost(t, nil)
	type ns = specs.LinuxNamespace
	tests := []struct {
		name                      string
		hc                        container.HostConfig
		netPath, ipcPath, pidPath string
		want                      []ns
		wantHostname              bool
		wantErr                   string
	}{
		{
			name:         "defaults",
			want:         []ns{{Type: "mount"}, {Type: "network"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name:         "bridge, none, default, user-defined network: new netns",
			hc:           container.HostConfig{NetworkMode: "mynet", IpcMode: "shareable", PidMode: ""},
			want:         []ns{{Type: "mount"}, {Type: "network"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name:         "network none",
			hc:           container.HostConfig{NetworkMode: "none", IpcMode: "private"},
			want:         []ns{{Type: "mount"}, {Type: "network"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name: "all host",
			hc:   container.HostConfig{NetworkMode: "host", IpcMode: "host", PidMode: "host", UTSMode: "host"},
			want: []ns{{Type: "mount"}},
		},
		{
			name:         "network host only",
			hc:           container.HostConfig{NetworkMode: "host"},
			want:         []ns{{Type: "mount"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name:    "container modes",
			hc:      container.HostConfig{NetworkMode: "container:abc", IpcMode: "container:abc", PidMode: "container:abc"},
			netPath: "/proc/42/ns/net", ipcPath: "/proc/42/ns/ipc", pidPath: "/proc/42/ns/pid",
			want:         []ns{{Type: "mount"}, {Type: "network", Path: "/proc/42/ns/net"}, {Type: "ipc", Path: "/proc/42/ns/ipc"}, {Type: "pid", Path: "/proc/42/ns/pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name:         "netns path given by the daemon for bridge",
			hc:           container.HostConfig{NetworkMode: "bridge"},
			netPath:      "/run/berth/netns/x",
			want:         []ns{{Type: "mount"}, {Type: "network", Path: "/run/berth/netns/x"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{
			name:         "private cgroupns",
			hc:           container.HostConfig{CgroupnsMode: "private"},
			want:         []ns{{Type: "mount"}, {Type: "network"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}, {Type: "cgroup"}},
			wantHostname: true,
		},
		{
			name:         "container mode without path: new namespace",
			hc:           container.HostConfig{PidMode: "container:abc"},
			want:         []ns{{Type: "mount"}, {Type: "network"}, {Type: "ipc"}, {Type: "pid"}, {Type: "uts"}},
			wantHostname: true,
		},
		{name: "host mode with path", hc: container.HostConfig{NetworkMode: "host"}, netPath: "/proc/1/ns/net", wantErr: "conflicting options"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			hc := tc.hc
			o.HostConfig = &hc
			o.Config.Domainname = "example.org"
			o.NetNSPath, o.IPCNSPath, o.PIDNSPath = tc.netPath, tc.ipcPath, tc.pidPath
			s, err := Generate(o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Linux.Namespaces, tc.want) {
				t.Errorf("namespaces = %v\nwant %v", s.Linux.Namespaces, tc.want)
			}
			if tc.wantHostname != (s.Hostname == "0123456789ab" && s.Domainname == "example.org") {
				t.Errorf("hostname = %q, domainname = %q", s.Hostname, s.Domainname)
			}
		})
	}
}
