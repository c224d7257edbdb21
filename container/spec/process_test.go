package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestProcessArgsEnvCwd(t *testing.T) {
	fakeHost(t, nil)
	tests := []struct {
		name     string
		config   container.Config
		hostname string
		wantArgs []string
		wantEnv  []string
		wantCwd  string
		wantTerm bool
		wantErr  string
	}{
		{
			name:     "cmd only",
			config:   container.Config{Cmd: []string{"echo", "hi"}},
			wantArgs: []string{"echo", "hi"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab"},
			wantCwd:  "/",
		},
		{
			name:     "entrypoint and cmd",
			config:   container.Config{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}},
			wantArgs: []string{"/bin/sh", "-c", "echo hi"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab"},
			wantCwd:  "/",
		},
		{
			name:     "entrypoint only",
			config:   container.Config{Entrypoint: []string{"/init"}},
			wantArgs: []string{"/init"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab"},
			wantCwd:  "/",
		},
		{
			name:    "no command",
			config:  container.Config{},
			wantErr: "no command specified",
		},
		{
			name:     "tty, own PATH, env order, hostname from options",
			config:   container.Config{Cmd: []string{"sh"}, Tty: true, Env: []string{"A=1", "PATH=/bin", "B=2"}},
			hostname: "web",
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=/bin", "HOSTNAME=web", "TERM=xterm", "A=1", "B=2"},
			wantCwd:  "/",
			wantTerm: true,
		},
		{
			name:     "env overrides TERM and HOSTNAME, bare key removes",
			config:   container.Config{Cmd: []string{"sh"}, Tty: true, Env: []string{"TERM=vt100", "HOSTNAME=x", "HOSTNAME"}, Hostname: "cfg"},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "TERM=vt100"},
			wantCwd:  "/",
			wantTerm: true,
		},
		{
			name:     "config hostname, working dir",
			config:   container.Config{Cmd: []string{"sh"}, Hostname: "cfg", WorkingDir: "/srv/app/"},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=cfg"},
			wantCwd:  "/srv/app",
		},
		{
			name:    "relative working dir",
			config:  container.Config{Cmd: []string{"sh"}, WorkingDir: "app"},
			wantErr: "the working directory 'app' is invalid, it needs to be an absolute path",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.Config = &tc.config
			o.Hostname = tc.hostname
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			p := s.Process
			if !slices.Equal(p.Args, tc.wantArgs) {
				t.Errorf("args = %q, want %q", p.Args, tc.wantArgs)
			}
			if !slices.Equal(p.Env, tc.wantEnv) {
				t.Errorf("env = %q, want %q", p.Env, tc.wantEnv)
			}
			if p.Cwd != tc.wantCwd {
				t.Errorf("cwd = %q, want %q", p.Cwd, tc.wantCwd)
			}
			if p.Terminal != tc.wantTerm {
				t.Errorf("terminal = %v, want %v", p.Terminal, tc.wantTerm)
			}
		})
	}
}

func TestUser(t *testing.T) {
	fakeHost(t, nil)
	tests := []struct {
		user     string
		groupAdd []string
		uid, gid uint32
		addGids  []uint32
		wantErr  string
	}{
		{user: "", uid: 0, gid: 0, addGids: []uint32{0, 10}},
		{user: "root", uid: 0, gid: 0, addGids: []uint32{0, 10}},
		{user: "0", uid: 0, gid: 0, addGids: []uint32{0, 10}},
		{user: "alice", uid: 1000, gid: 1000, addGids: []uint32{1000, 10, 44}},
		{user: "1000", uid: 1000, gid: 1000, addGids: []uint32{1000, 10, 44}},
		{user: "alice:staff", uid: 1000, gid: 50, addGids: []uint32{50}},
		{user: "alice:44", uid: 1000, gid: 44, addGids: []uint32{44}},
		{user: "1001:50", uid: 1001, gid: 50, addGids: []uint32{50}},
		{user: "bob", uid: 1001, gid: 100, addGids: []uint32{100}},
		{user: "4242", uid: 4242, gid: 0, addGids: []uint32{0}},
		{user: "4242:4343", uid: 4242, gid: 4343, addGids: []uint32{4343}},
		{user: "bob", groupAdd: []string{"video", "7777", "staff", "100"}, uid: 1001, gid: 100, addGids: []uint32{100, 44, 50, 7777}},
		{user: "nobody", wantErr: "unable to find user nobody: no matching entries in passwd file"},
		{user: "alice:nogroup", wantErr: "unable to find group nogroup: no matching entries in group file"},
		{user: "bob", groupAdd: []string{"nosuch"}, wantErr: "unable to find group nosuch: no matching entries in group file"},
	}
	for _, tc := range tests {
		t.Run(tc.user+"+"+filepath.Join(tc.groupAdd...), func(t *testing.T) {
			o := baseOptions(t)
			o.Config.User = tc.user
			o.HostConfig.GroupAdd = tc.groupAdd
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			u := s.Process.User
			if u.UID != tc.uid || u.GID != tc.gid {
				t.Errorf("uid:gid = %d:%d, want %d:%d", u.UID, u.GID, tc.uid, tc.gid)
			}
			if !slices.Equal(u.AdditionalGids, tc.addGids) {
				t.Errorf("additional gids = %v, want %v", u.AdditionalGids, tc.addGids)
			}
		})
	}
}

func TestUserNoPasswdFile(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	o.Rootfs = t.TempDir() // scratch image: no /etc at all
	o.Config.User = "1000:1000"
	s := mustGenerate(t, o)
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 {
		t.Fatalf("user = %+v", u)
	}
	o.Config.User = "alice"
	_, err := Generate(o)
	checkErr(t, err, "unable to find user alice")
}

// An absolute symlink in the image must resolve inside the rootfs, never to
// the host's file.
func TestUserPasswdSymlinkStaysInRootfs(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	etc := filepath.Join(o.Rootfs, "etc")
	if err := os.Remove(filepath.Join(etc, "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(o.Rootfs, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(o.Rootfs, "usr/lib/passwd"), "linked:x:555:555::/:/bin/sh\n")
	if err := os.Symlink("/usr/lib/passwd", filepath.Join(etc, "passwd")); err != nil {
		t.Fatal(err)
	}
	o.Config.User = "linked"
	s := mustGenerate(t, o)
	if s.Process.User.UID != 555 {
		t.Fatalf("uid = %d, want 555", s.Process.User.UID)
	}
	o.Config.User = "root" // the host's passwd has root; the image's does not
	_, err := Generate(o)
	checkErr(t, err, "unable to find user root")
}

func TestUmaskAndConsoleSize(t *testing.T) {
	fakeHost(t, nil)
	o := baseOptions(t)
	um := uint32(0o027)
	o.HostConfig.Umask = &um
	o.Config.Tty = true
	o.HostConfig.ConsoleSize = [2]uint{40, 120}
	s := mustGenerate(t, o)
	if s.Process.User.Umask == nil || *s.Process.User.Umask != 0o027 {
		t.Errorf("umask = %v", s.Process.User.Umask)
	}
	if cs := s.Process.ConsoleSize; cs == nil || cs.Height != 40 || cs.Width != 120 {
		t.Errorf("console size = %+v", cs)
	}
}
