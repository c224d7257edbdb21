package spec

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var defaultDests = []string{"/proc", "/dev", "/sys", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"}

func bind(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: append([]string{"rbind"}, opts...)}
}

func TestDefaultMounts(t *testing.T) {
	fakeHost(t, nil)
	s := mustGenerate(t, baseOptions(t))
	if got := dests(s.Mounts); !slices.Equal(got, defaultDests) {
		t.Fatalf("mounts = %v, want %v", got, defaultDests)
	}
	want := map[string]specs.Mount{
		"/proc":          {Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		"/dev":           {Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		"/dev/pts":       {Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		"/sys":           {Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		"/sys/fs/cgroup": {Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		"/dev/mqueue":    {Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		"/dev/shm":       {Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
	for _, m := range s.Mounts {
		w := want[m.Destination]
		if m.Type != w.Type || m.Source != w.Source || !slices.Equal(m.Options, w.Options) {
			t.Errorf("%s: got %+v, want %+v", m.Destination, m, w)
		}
	}
	if s.Root.Path == "" || s.Root.Readonly {
		t.Errorf("root = %+v", s.Root)
	}
}

func TestMounts(t *testing.T) {
	fakeHost(t, nil)
	hosts := bind("/var/lib/berth/c/hosts", "/etc/hosts")
	tests := []struct {
		name      string
		user      []specs.Mount
		hc        container.HostConfig
		opts      []string
		wantDests []string
		check     func(t *testing.T, ms []specs.Mount)
		wantErr   string
	}{
		{
			name:      "user mounts sorted parents first, defaults first at equal depth",
			user:      []specs.Mount{bind("/v/sub", "/data/sub"), hosts, bind("/v", "/data")},
			wantDests: []string{"/proc", "/dev", "/sys", "/data", "/dev/pts", "/dev/mqueue", "/dev/shm", "/data/sub", "/etc/hosts", "/sys/fs/cgroup"},
		},
		{
			name:      "user /dev/shm replaces the default",
			user:      []specs.Mount{bind("/host/shm", "/dev/shm")},
			wantDests: []string{"/proc", "/dev", "/sys", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"},
			check: func(t *testing.T, ms []specs.Mount) {
				if m := mountByDest(ms, "/dev/shm"); m.Source != "/host/shm" {
					t.Errorf("/dev/shm = %+v", m)
				}
			},
		},
		{
			name:      "user /dev drops the /dev defaults",
			user:      []specs.Mount{bind("/dev", "/dev")},
			wantDests: []string{"/proc", "/sys", "/dev", "/sys/fs/cgroup"},
		},
		{
			name:      "user /proc with trailing slash replaces",
			user:      []specs.Mount{bind("/x", "/proc/")},
			wantDests: []string{"/dev", "/sys", "/proc/", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"},
		},
		{
			name:      "shm size",
			hc:        container.HostConfig{ShmSize: 128 << 20},
			wantDests: defaultDests,
			check: func(t *testing.T, ms []specs.Mount) {
				if m := mountByDest(ms, "/dev/shm"); !slices.Contains(m.Options, "size=134217728") {
					t.Errorf("/dev/shm = %+v", m)
				}
			},
		},
		{name: "negative shm size", hc: container.HostConfig{ShmSize: -1}, wantErr: "SHM size can not be less than 0"},
		{
			name:      "ipc none: no shm, no mqueue",
			hc:        container.HostConfig{IpcMode: "none"},
			wantDests: []string{"/proc", "/dev", "/sys", "/dev/pts", "/sys/fs/cgroup"},
		},
		{
			name:      "ipc host: host's shm and mqueue",
			hc:        container.HostConfig{IpcMode: "host"},
			wantDests: defaultDests,
			check: func(t *testing.T, ms []specs.Mount) {
				if m := mountByDest(ms, "/dev/shm"); m.Type != "bind" || m.Source != "/dev/shm" {
					t.Errorf("/dev/shm = %+v", m)
				}
			},
		},
		{
			name:      "privileged: /sys and cgroup writable",
			hc:        container.HostConfig{Privileged: true},
			wantDests: defaultDests,
			check: func(t *testing.T, ms []specs.Mount) {
				for _, d := range []string{"/sys", "/sys/fs/cgroup"} {
					if slices.Contains(mountByDest(ms, d).Options, "ro") {
						t.Errorf("%s read-only", d)
					}
				}
			},
		},
		{
			name:      "writable-cgroups",
			opts:      []string{"writable-cgroups=true"},
			wantDests: defaultDests,
			check: func(t *testing.T, ms []specs.Mount) {
				if slices.Contains(mountByDest(ms, "/sys/fs/cgroup").Options, "ro") {
					t.Error("cgroup read-only")
				}
				if !slices.Contains(mountByDest(ms, "/sys").Options, "ro") {
					t.Error("/sys writable")
				}
			},
		},
		{
			name:      "tmpfs replaces a default and is sorted",
			hc:        container.HostConfig{Tmpfs: map[string]string{"/run": "", "/dev/shm": "size=1g", "/run/lock": "rw,size=64m,mode=1777"}},
			wantDests: []string{"/proc", "/dev", "/sys", "/run", "/dev/pts", "/dev/mqueue", "/dev/shm", "/run/lock", "/sys/fs/cgroup"},
			check: func(t *testing.T, ms []specs.Mount) {
				want := map[string][]string{
					"/run":      {"noexec", "nosuid", "nodev", "rprivate"},
					"/dev/shm":  {"noexec", "nosuid", "nodev", "rprivate", "size=1g"},
					"/run/lock": {"noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m", "mode=1777"},
				}
				for d, opts := range want {
					m := mountByDest(ms, d)
					if m.Type != "tmpfs" || m.Source != "tmpfs" || !slices.Equal(m.Options, opts) {
						t.Errorf("%s = %+v, want options %v", d, m, opts)
					}
				}
			},
		},
		{
			name:      "tmpfs options override defaults",
			hc:        container.HostConfig{Tmpfs: map[string]string{"/tmp": "exec,suid,size=1m,size=2m,shared"}},
			wantDests: []string{"/proc", "/dev", "/sys", "/tmp", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"},
			check: func(t *testing.T, ms []specs.Mount) {
				want := []string{"nodev", "exec", "suid", "size=2m", "shared"}
				if m := mountByDest(ms, "/tmp"); !slices.Equal(m.Options, want) {
					t.Errorf("/tmp options = %v, want %v", m.Options, want)
				}
			},
		},
		{name: "tmpfs bad option", hc: container.HostConfig{Tmpfs: map[string]string{"/tmp": "bogus"}}, wantErr: "invalid tmpfs option"},
		{name: "tmpfs root", hc: container.HostConfig{Tmpfs: map[string]string{"/": ""}}, wantErr: "invalid specification: destination can't be '/'"},
		{name: "tmpfs relative", hc: container.HostConfig{Tmpfs: map[string]string{"tmp": ""}}, wantErr: "invalid mount path: 'tmp' mount path must be absolute"},
		{name: "tmpfs and volume on one path", user: []specs.Mount{bind("/v", "/data")}, hc: container.HostConfig{Tmpfs: map[string]string{"/data": ""}}, wantErr: "Duplicate mount point: /data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.Mounts = tc.user
			hc := tc.hc
			hc.SecurityOpt = tc.opts
			o.HostConfig = &hc
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if got := dests(s.Mounts); !slices.Equal(got, tc.wantDests) {
				t.Fatalf("mounts = %v\nwant     %v", got, tc.wantDests)
			}
			if tc.check != nil {
				tc.check(t, s.Mounts)
			}
		})
	}
}

func TestRootfsReadonlyAndPropagation(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	o.HostConfig.ReadonlyRootfs = true
	s := mustGenerate(t, o)
	if !s.Root.Readonly || s.Root.Path != o.Rootfs || s.Linux.RootfsPropagation != "" {
		t.Errorf("root = %+v, propagation %q", s.Root, s.Linux.RootfsPropagation)
	}
	o.Mounts = []specs.Mount{bind("/a", "/a", "rslave")}
	if s = mustGenerate(t, o); s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("propagation = %q, want rslave", s.Linux.RootfsPropagation)
	}
	o.Mounts = append(o.Mounts, bind("/b", "/b", "rshared"))
	if s = mustGenerate(t, o); s.Linux.RootfsPropagation != "shared" {
		t.Errorf("propagation = %q, want shared", s.Linux.RootfsPropagation)
	}
}
