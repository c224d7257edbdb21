package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
}

func TestCapabilities(t *testing.T) {
	fakeHost(t, nil)
	def := DefaultCapabilities()
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		bounding   []string
		want       []string
		wantErr    string
	}{
		{name: "defaults", want: def},
		{name: "add with prefix", add: []string{"CAP_NET_ADMIN"}, want: append(slices.Clone(def), "CAP_NET_ADMIN")},
		{name: "add without prefix, lower case", add: []string{"sys_ptrace"}, want: append(slices.Clone(def), "CAP_SYS_PTRACE")},
		{name: "add one already there", add: []string{"chown"}, want: def},
		{name: "drop", drop: []string{"chown", "CAP_NET_RAW"}, want: without(def, "CAP_CHOWN", "CAP_NET_RAW")},
		{name: "drop and add", add: []string{"NET_ADMIN"}, drop: []string{"MKNOD"}, want: append(without(def, "CAP_MKNOD"), "CAP_NET_ADMIN")},
		{name: "drop ALL add some", add: []string{"chown", "Kill"}, drop: []string{"all"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "drop ALL", drop: []string{"ALL"}, want: []string{}},
		{name: "add ALL", add: []string{"ALL"}, want: knownCapabilities},
		{name: "add ALL drop some", add: []string{"ALL"}, drop: []string{"sys_admin", "CAP_NET_ADMIN"}, want: without(knownCapabilities, "CAP_SYS_ADMIN", "CAP_NET_ADMIN")},
		{name: "unknown add", add: []string{"foo"}, wantErr: `unknown capability: "CAP_FOO"`},
		{name: "unknown drop", drop: []string{"CAP_BAR"}, wantErr: `unknown capability: "CAP_BAR"`},
		{name: "privileged = bounding set", privileged: true, drop: []string{"chown"}, bounding: []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}, want: []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}},
		{name: "privileged = all", privileged: true, want: knownCapabilities},
		{name: "filtered to bounding set", add: []string{"SYS_RESOURCE", "NET_ADMIN"}, bounding: without(knownCapabilities, "CAP_SYS_RESOURCE", "CAP_NET_RAW"), want: append(without(def, "CAP_NET_RAW"), "CAP_NET_ADMIN")},
		{name: "add ALL filtered", add: []string{"ALL"}, bounding: []string{"CAP_KILL", "CAP_CHOWN"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.HostConfig.CapAdd = tc.add
			o.HostConfig.CapDrop = tc.drop
			o.HostConfig.Privileged = tc.privileged
			if tc.bounding != nil {
				o.BoundingCaps = tc.bounding
			}
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			c := s.Process.Capabilities
			if !slices.Equal(c.Bounding, tc.want) {
				t.Errorf("bounding = %v\nwant %v", c.Bounding, tc.want)
			}
			if !slices.Equal(c.Effective, tc.want) || !slices.Equal(c.Permitted, tc.want) {
				t.Errorf("effective/permitted differ from bounding: %v %v", c.Effective, c.Permitted)
			}
			if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("inheritable/ambient must be empty: %v %v", c.Inheritable, c.Ambient)
			}
		})
	}
}

func TestBoundingSet(t *testing.T) {
	caps, err := BoundingSet()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if !isKnownCap(c) {
			t.Errorf("unknown capability name %q", c)
		}
	}
	if got := capsFromMask(0x1 | 1<<21 | 1<<40 | 1<<60); !slices.Equal(got, []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"}) {
		t.Errorf("capsFromMask = %v", got)
	}
}

func hasSyscall(sc *specs.LinuxSeccomp, name string) bool {
	for _, s := range sc.Syscalls {
		if s.Action == specs.ActAllow && slices.Contains(s.Names, name) {
			return true
		}
	}
	return false
}

const customProfile = `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`

func TestSecurityOpt(t *testing.T) {
	fakeHost(t, nil)
	tests := []struct {
		name       string
		opts       []string
		privileged bool
		capAdd     []string
		wantNNP    bool
		seccomp    string // "none", "default", "custom"
		wantErr    string
	}{
		{name: "defaults", seccomp: "default"},
		{name: "no-new-privileges", opts: []string{"no-new-privileges"}, wantNNP: true, seccomp: "default"},
		{name: "no-new-privileges:true", opts: []string{"no-new-privileges:true"}, wantNNP: true, seccomp: "default"},
		{name: "no-new-privileges=true", opts: []string{"no-new-privileges=true"}, wantNNP: true, seccomp: "default"},
		{name: "no-new-privileges=false", opts: []string{"no-new-privileges", "no-new-privileges=false"}, seccomp: "default"},
		{name: "no-new-privileges=maybe", opts: []string{"no-new-privileges=maybe"}, wantErr: `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{name: "seccomp unconfined", opts: []string{"seccomp=unconfined"}, seccomp: "none"},
		{name: "seccomp unconfined colon", opts: []string{"seccomp:unconfined"}, seccomp: "none"},
		{name: "seccomp builtin", opts: []string{"seccomp=builtin"}, seccomp: "default"},
		{name: "seccomp custom", opts: []string{"seccomp=" + customProfile}, seccomp: "custom"},
		{name: "seccomp bad json", opts: []string{"seccomp={bad"}, wantErr: "Decoding seccomp profile failed"},
		{name: "privileged", privileged: true, seccomp: "none"},
		{name: "privileged custom", privileged: true, opts: []string{"seccomp=" + customProfile}, seccomp: "none"},
		{name: "apparmor and label ignored", opts: []string{"apparmor=unconfined", "label=disable", "label:type:svirt_t", "disable"}, seccomp: "default"},
		{name: "writable-cgroups", opts: []string{"writable-cgroups=true"}, seccomp: "default"},
		{name: "unknown key", opts: []string{"foo=bar"}, wantErr: `invalid --security-opt 2: "foo=bar"`},
		{name: "no separator", opts: []string{"foo"}, wantErr: `invalid --security-opt 1: "foo"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.HostConfig.SecurityOpt = tc.opts
			o.HostConfig.Privileged = tc.privileged
			o.HostConfig.CapAdd = tc.capAdd
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if s.Process.NoNewPrivileges != tc.wantNNP {
				t.Errorf("NoNewPrivileges = %v", s.Process.NoNewPrivileges)
			}
			sc := s.Linux.Seccomp
			switch tc.seccomp {
			case "none":
				if sc != nil {
					t.Errorf("seccomp set, want none")
				}
			case "default":
				if sc == nil || sc.DefaultAction != specs.ActErrno || !hasSyscall(sc, "read") {
					t.Fatalf("want the default profile, got %+v", sc)
				}
			case "custom":
				if sc == nil || len(sc.Syscalls) != 1 || !hasSyscall(sc, "write") || hasSyscall(sc, "open") {
					t.Fatalf("want the custom profile, got %+v", sc)
				}
			}
		})
	}
}

// The default profile follows the capabilities: CAP_SYS_ADMIN allows mount,
// CAP_SYS_PTRACE allows ptrace-related calls (process_vm_readv...).
func TestDefaultSeccompFollowsCaps(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	s := mustGenerate(t, o)
	if hasSyscall(s.Linux.Seccomp, "mount") {
		t.Error("default caps: mount allowed")
	}
	o.HostConfig.CapAdd = []string{"SYS_ADMIN"}
	s = mustGenerate(t, o)
	if !hasSyscall(s.Linux.Seccomp, "mount") {
		t.Error("CAP_SYS_ADMIN: mount not allowed")
	}
	// The same set again comes from the cache and is still right.
	s = mustGenerate(t, baseOptions(t))
	if hasSyscall(s.Linux.Seccomp, "mount") {
		t.Error("cached default caps: mount allowed")
	}
}

// A caller modifying its profile does not change the cached one.
func TestSeccompCacheIsolation(t *testing.T) {
	fakeHost(t, nil)
	s := mustGenerate(t, baseOptions(t))
	n := len(s.Linux.Seccomp.Syscalls)
	s.Linux.Seccomp.Syscalls = s.Linux.Seccomp.Syscalls[:1]
	s.Linux.Seccomp.Syscalls[0].Action = specs.ActKill
	s.Linux.Seccomp.DefaultAction = specs.ActAllow
	s2 := mustGenerate(t, baseOptions(t))
	if len(s2.Linux.Seccomp.Syscalls) != n || s2.Linux.Seccomp.DefaultAction != specs.ActErrno || s2.Linux.Seccomp.Syscalls[0].Action == specs.ActKill {
		t.Fatal("the cached profile was modified through a generated spec")
	}
}

func TestMaskedReadonlyPaths(t *testing.T) {
	fakeHost(t, nil)
	tests := []struct {
		name             string
		privileged       bool
		opts             []string
		masked, readonly []string
		wantMasked       []string
		wantReadonly     []string
	}{
		{name: "defaults", wantMasked: DefaultMaskedPaths(), wantReadonly: DefaultReadonlyPaths()},
		{name: "privileged", privileged: true},
		{name: "custom", masked: []string{"/proc/foo"}, readonly: []string{"/proc/bar"}, wantMasked: []string{"/proc/foo"}, wantReadonly: []string{"/proc/bar"}},
		{name: "explicitly empty", masked: []string{}, readonly: []string{}},
		{name: "systempaths=unconfined", opts: []string{"systempaths=unconfined"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.HostConfig.Privileged = tc.privileged
			o.HostConfig.SecurityOpt = tc.opts
			o.HostConfig.MaskedPaths = tc.masked
			o.HostConfig.ReadonlyPaths = tc.readonly
			s := mustGenerate(t, o)
			if !slices.Equal(s.Linux.MaskedPaths, tc.wantMasked) {
				t.Errorf("masked = %v, want %v", s.Linux.MaskedPaths, tc.wantMasked)
			}
			if !slices.Equal(s.Linux.ReadonlyPaths, tc.wantReadonly) {
				t.Errorf("readonly = %v, want %v", s.Linux.ReadonlyPaths, tc.wantReadonly)
			}
		})
	}
}
