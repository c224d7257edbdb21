package spec

import (
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestResources(t *testing.T) {
	const mb = 1 << 20
	pl := func(v int64) *int64 { return &v }
	tests := []struct {
		name    string
		r       container.Resources
		noSwap  bool
		noBlkio bool
		want    specs.LinuxResources // Devices ignored
		wantErr string
	}{
		{name: "none"},
		{name: "memory, swap defaults to twice", r: container.Resources{Memory: 64 * mb},
			want: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mb), Swap: i64(128 * mb)}}},
		{name: "memory, unlimited swap", r: container.Resources{Memory: 64 * mb, MemorySwap: -1},
			want: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mb), Swap: i64(-1)}}},
		{name: "memory and swap", r: container.Resources{Memory: 64 * mb, MemorySwap: 100 * mb, MemoryReservation: 32 * mb},
			want: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mb), Swap: i64(100 * mb), Reservation: i64(32 * mb)}}},
		{name: "memory without swap accounting", noSwap: true, r: container.Resources{Memory: 64 * mb, MemorySwap: 100 * mb},
			want: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mb)}}},
		{name: "swappiness and oom kill disable", r: container.Resources{MemorySwappiness: pl(10), OomKillDisable: boolp(true)},
			want: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10), DisableOOMKiller: boolp(true)}}},
		{name: "swappiness -1 = default", r: container.Resources{MemorySwappiness: pl(-1)}},
		{name: "memory too small", r: container.Resources{Memory: 4 * mb}, wantErr: "Minimum memory limit allowed is 6MB"},
		{name: "swap below memory", r: container.Resources{Memory: 64 * mb, MemorySwap: 32 * mb}, wantErr: "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{name: "swap without memory", r: container.Resources{MemorySwap: 32 * mb}, wantErr: "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{name: "reservation above memory", r: container.Resources{Memory: 64 * mb, MemoryReservation: 128 * mb}, wantErr: "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{name: "reservation too small", r: container.Resources{MemoryReservation: mb}, wantErr: "Minimum memory reservation allowed is 6MB"},
		{name: "swappiness out of range", r: container.Resources{MemorySwappiness: pl(101)}, wantErr: "Invalid value: 101, valid memory swappiness range is 0-100"},
		{name: "nano cpus", r: container.Resources{NanoCPUs: 1.5e9},
			want: specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(100000), Quota: i64(150000)}}},
		{name: "quota and period, shares", r: container.Resources{CPUQuota: 50000, CPUPeriod: 200000, CPUShares: 512},
			want: specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(200000), Quota: i64(50000), Shares: u64(512)}}},
		{name: "shares clamped", r: container.Resources{CPUShares: 1},
			want: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(2)}}},
		{name: "shares clamped high", r: container.Resources{CPUShares: 1 << 20},
			want: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(262144)}}},
		{name: "nano cpus and period", r: container.Resources{NanoCPUs: 1e9, CPUPeriod: 100000}, wantErr: "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{name: "nano cpus and quota", r: container.Resources{NanoCPUs: 1e9, CPUQuota: 100000}, wantErr: "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{name: "too many cpus", r: container.Resources{NanoCPUs: 3e9}, wantErr: "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{name: "period out of range", r: container.Resources{CPUPeriod: 999}, wantErr: "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{name: "quota too small", r: container.Resources{CPUQuota: 999}, wantErr: "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{name: "cpuset", r: container.Resources{CpusetCpus: "0-1", CpusetMems: "0"},
			want: specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0"}}},
		{name: "cpuset unavailable", r: container.Resources{CpusetCpus: "5"}, wantErr: "Requested CPUs are not available - requested 5, available: 0-1"},
		{name: "cpuset list unavailable", r: container.Resources{CpusetCpus: "0,1-3"}, wantErr: "Requested CPUs are not available - requested 0,1-3, available: 0-1"},
		{name: "cpuset invalid", r: container.Resources{CpusetCpus: "1-a"}, wantErr: "Invalid value 1-a for cpuset cpus: invalid format: 1-a"},
		{name: "cpuset mems unavailable", r: container.Resources{CpusetMems: "1"}, wantErr: "Requested memory nodes are not available - requested 1, available: 0"},
		{name: "pids", r: container.Resources{PidsLimit: pl(64)}, want: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(64)}}},
		{name: "pids 0 unlimited", r: container.Resources{PidsLimit: pl(0)}},
		{name: "pids -1 unlimited", r: container.Resources{PidsLimit: pl(-1)}},
		{name: "blkio weight", r: container.Resources{BlkioWeight: 300}, want: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}},
		{name: "blkio weight unsupported", noBlkio: true, r: container.Resources{BlkioWeight: 300}},
		{name: "blkio weight out of range", r: container.Resources{BlkioWeight: 5}, wantErr: "Range of blkio weight is from 10 to 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, func(h *hostInfo) {
				cg := allCgroups
				cg.SwapLimit, cg.BlkioWeight = !tc.noSwap, !tc.noBlkio
				h.cgroups = func() CgroupSupport { return cg }
			})
			o := baseOptions(t)
			o.HostConfig.Resources = tc.r
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			got := *s.Linux.Resources
			got.Devices = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("resources:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
		})
	}
}

func dump(r specs.LinuxResources) string {
	b, _ := jsonMarshal(r)
	return string(b)
}

func TestOomScoreAdj(t *testing.T) {
	fakeHost(t, nil)
	for _, tc := range []struct {
		adj     int
		want    *int
		wantErr string
	}{
		{adj: 0},
		{adj: 500, want: func() *int { v := 500; return &v }()},
		{adj: -1, wantErr: "oom_score_adj below 0 (-1) needs CAP_SYS_RESOURCE, which berthd does not hold"},
		{adj: 1001, wantErr: "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
	} {
		o := baseOptions(t)
		o.HostConfig.OomScoreAdj = tc.adj
		s, err := Generate(o)
		if !checkErr(t, err, tc.wantErr) {
			continue
		}
		if !reflect.DeepEqual(s.Process.OOMScoreAdj, tc.want) {
			t.Errorf("adj %d: OOMScoreAdj = %v", tc.adj, s.Process.OOMScoreAdj)
		}
	}
}

func TestUlimits(t *testing.T) {
	inf := uint64(unix.RLIM_INFINITY)
	tests := []struct {
		name    string
		uls     []*container.Ulimit
		want    []specs.POSIXRlimit
		wantErr string
	}{
		{name: "none"},
		{name: "below the hard limit", uls: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}},
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}}},
		{name: "clamped", uls: []*container.Ulimit{{Name: "nofile", Soft: 1 << 21, Hard: 1 << 22}, {Name: "nproc", Soft: 10, Hard: -1}},
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1 << 20, Hard: 1 << 20}, {Type: "RLIMIT_NPROC", Soft: 10, Hard: 1 << 20}}},
		{name: "unlimited allowed when the daemon's is", uls: []*container.Ulimit{{Name: "core", Soft: -1, Hard: -1}},
			want: []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: inf, Hard: inf}}},
		{name: "last one wins", uls: []*container.Ulimit{{Name: "nofile", Soft: 1, Hard: 2}, {Name: "NOFILE", Soft: 3, Hard: 4}},
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 3, Hard: 4}}},
		{name: "unknown", uls: []*container.Ulimit{{Name: "foo", Soft: 1, Hard: 1}}, wantErr: "invalid ulimit type: foo"},
		{name: "soft above hard", uls: []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}, wantErr: "ulimit soft limit must be less than or equal to hard limit: 10 > 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, func(h *hostInfo) {
				h.rlimitHard = func(res int) (uint64, error) {
					if res == unix.RLIMIT_CORE {
						return inf, nil
					}
					return 1 << 20, nil
				}
			})
			o := baseOptions(t)
			o.HostConfig.Ulimits = tc.uls
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(s.Process.Rlimits, tc.want) {
				t.Errorf("rlimits = %+v, want %+v", s.Process.Rlimits, tc.want)
			}
		})
	}
}

func TestCgroupsPath(t *testing.T) {
	fakeHost(t, nil)
	for _, tc := range []struct{ opt, hc, want string }{
		{want: "/berth/0123456789abcdef0123456789abcdef"},
		{opt: "/berth", hc: "/ignored", want: "/berth/0123456789abcdef0123456789abcdef"},
		{hc: "/custom/", want: "/custom/0123456789abcdef0123456789abcdef"},
	} {
		o := baseOptions(t)
		o.CgroupParent = tc.opt
		o.HostConfig.CgroupParent = tc.hc
		if s := mustGenerate(t, o); s.Linux.CgroupsPath != tc.want {
			t.Errorf("%+v: cgroups path = %q", tc, s.Linux.CgroupsPath)
		}
	}
}

func TestDevices(t *testing.T) {
	ptr := func(v int64) *int64 { return &v }
	devDir := t.TempDir() // a "directory of devices" made of fake nodes
	fakeNodes := map[string]specs.LinuxDevice{
		devDir + "/snd/a": {Type: "c", Major: 116, Minor: 1},
		devDir + "/snd/b": {Type: "c", Major: 116, Minor: 2},
	}
	if err := os.MkdirAll(devDir+"/snd", 0o755); err != nil {
		t.Fatal(err)
	}
	for p := range fakeNodes {
		writeFile(t, p, "")
	}
	tests := []struct {
		name        string
		hc          container.HostConfig
		wantDevices []specs.LinuxDevice
		wantExtra   []specs.LinuxDeviceCgroup // after the defaults
		wantErr     string
	}{
		{name: "defaults"},
		{
			name:        "host device",
			hc:          container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}}},
			wantDevices: []specs.LinuxDevice{{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3}},
			wantExtra:   []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: ptr(1), Minor: ptr(3), Access: "rw"}},
		},
		{
			name:        "directory of devices, default path and permissions",
			hc:          container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: devDir + "/snd"}}}},
			wantDevices: []specs.LinuxDevice{{Path: devDir + "/snd/a", Type: "c", Major: 116, Minor: 1}, {Path: devDir + "/snd/b", Type: "c", Major: 116, Minor: 2}},
			wantExtra: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: ptr(116), Minor: ptr(1), Access: "rwm"},
				{Allow: true, Type: "c", Major: ptr(116), Minor: ptr(2), Access: "rwm"},
			},
		},
		{
			name: "cgroup rules",
			hc:   container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 10:229 rwm", "b *:* r", "a *:* m"}}},
			wantExtra: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: ptr(10), Minor: ptr(229), Access: "rwm"},
				{Allow: true, Type: "b", Access: "r"},
				{Allow: true, Type: "a", Access: "m"},
			},
		},
		{name: "bad rule", hc: container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 10:229 rwx"}}}, wantErr: "invalid device cgroup rule format: 'c 10:229 rwx'"},
		{name: "bad mode", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", CgroupPermissions: "rwx"}}}}, wantErr: "invalid device mode: rwx"},
		{name: "missing device", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/nonexistent-berth"}}}}, wantErr: `error gathering device information while adding custom device "/dev/nonexistent-berth"`},
		{name: "not a device", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/etc/passwd"}}}}, wantErr: "not a device node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, func(h *hostInfo) {
				h.deviceAtPath = func(p string) (specs.LinuxDevice, error) {
					if d, ok := fakeNodes[p]; ok {
						d.Path = p
						return d, nil
					}
					return deviceFromPath(p)
				}
			})
			o := baseOptions(t)
			o.HostConfig = &tc.hc
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			var gotDevs []specs.LinuxDevice
			for _, d := range s.Linux.Devices {
				d.FileMode, d.UID, d.GID = nil, nil, nil
				gotDevs = append(gotDevs, d)
			}
			if !reflect.DeepEqual(gotDevs, tc.wantDevices) {
				t.Errorf("devices = %+v, want %+v", gotDevs, tc.wantDevices)
			}
			want := append(defaultDeviceRules(), tc.wantExtra...)
			if !reflect.DeepEqual(s.Linux.Resources.Devices, want) {
				t.Errorf("rules:\n got %s\nwant %s", jsonString(s.Linux.Resources.Devices), jsonString(want))
			}
		})
	}
}

func TestDefaultDeviceRules(t *testing.T) {
	rules := defaultDeviceRules()
	if r := rules[0]; r.Allow || r.Access != "rwm" || r.Type != "" || r.Major != nil {
		t.Fatalf("first rule must deny all: %+v", r)
	}
	type dev struct {
		typ          string
		major, minor int64
		access       string
	}
	var got []dev
	for _, r := range rules[1:] {
		d := dev{typ: r.Type, major: -1, minor: -1, access: r.Access}
		if r.Major != nil {
			d.major = *r.Major
		}
		if r.Minor != nil {
			d.minor = *r.Minor
		}
		if !r.Allow {
			t.Errorf("rule %+v denies", d)
		}
		got = append(got, d)
	}
	want := []dev{
		{"c", -1, -1, "m"}, {"b", -1, -1, "m"},
		{"c", 1, 3, "rwm"}, {"c", 1, 5, "rwm"}, {"c", 1, 7, "rwm"}, {"c", 1, 8, "rwm"}, {"c", 1, 9, "rwm"},
		{"c", 5, 0, "rwm"}, {"c", 5, 1, "rwm"}, {"c", 5, 2, "rwm"}, {"c", 136, -1, "rwm"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %v\nwant %v", got, want)
	}
}

func TestPrivileged(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	o.HostConfig.Privileged = true
	o.HostConfig.Devices = []container.DeviceMapping{{PathOnHost: "/dev/nonexistent-berth"}} // ignored, as Docker
	o.HostConfig.SecurityOpt = []string{"seccomp=" + customProfile}
	o.BoundingCaps = []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"}
	s := mustGenerate(t, o)
	if !reflect.DeepEqual(s.Linux.Resources.Devices, []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}) {
		t.Errorf("device rules = %s", jsonString(s.Linux.Resources.Devices))
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/sda" {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	if !reflect.DeepEqual(s.Process.Capabilities.Bounding, o.BoundingCaps) {
		t.Errorf("caps = %v", s.Process.Capabilities.Bounding)
	}
	if s.Linux.Seccomp != nil || s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Error("privileged: seccomp, masked or readonly paths set")
	}
}

// The real host scan finds at least /dev/null and skips /dev/pts.
func TestHostDevices(t *testing.T) {
	devs, err := hostDevices()
	if err != nil {
		t.Fatal(err)
	}
	var null bool
	for _, d := range devs {
		if d.Path == "/dev/null" && d.Type == "c" && d.Major == 1 && d.Minor == 3 {
			null = true
		}
		if len(d.Path) > 9 && d.Path[:9] == "/dev/pts/" || d.Path == "/dev/console" {
			t.Errorf("%s must be skipped", d.Path)
		}
	}
	if !null {
		t.Error("/dev/null not found")
	}
}

func TestSysctls(t *testing.T) {
	fakeHost(t, nil)
	tests := []struct {
		name    string
		hc      container.HostConfig
		wantErr string
	}{
		{name: "namespaced", hc: container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "20", "kernel.domainname": "x"}}},
		{name: "net in host netns", hc: container.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}, wantErr: `sysctl "net.ipv4.ip_forward" is not allowed in the host network namespace`},
		{name: "ipc in host ipc", hc: container.HostConfig{IpcMode: "host", Sysctls: map[string]string{"kernel.sem": "1"}}, wantErr: `sysctl "kernel.sem" is not allowed in the host IPC namespace`},
		{name: "not namespaced", hc: container.HostConfig{Sysctls: map[string]string{"vm.swappiness": "1"}}, wantErr: `sysctl "vm.swappiness" is not allowed: it is not namespaced`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.HostConfig = &tc.hc
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(s.Linux.Sysctl, tc.hc.Sysctls) {
				t.Errorf("sysctl = %v", s.Linux.Sysctl)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	o.Config = nil
	_, err := Generate(o)
	checkErr(t, err, "container config is missing")
	o = baseOptions(t)
	o.Rootfs = "rootfs"
	_, err = Generate(o)
	checkErr(t, err, "must be absolute")
	// The error type is transparent to errors.Is/As on its cause.
	if !errors.Is(invalid(os.ErrNotExist), os.ErrNotExist) {
		t.Error("invalid() hides its cause")
	}
}
