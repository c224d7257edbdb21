package listeners

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		host    string
		want    Addr
		wantErr string
	}{
		{host: "unix:///run/berth.sock", want: Addr{"unix", "/run/berth.sock"}},
		{host: "unix:///run//x/../berth.sock", want: Addr{"unix", "/run/berth.sock"}},
		{host: "tcp://127.0.0.1:2375", want: Addr{"tcp", "127.0.0.1:2375"}},
		{host: "tcp://:2375", want: Addr{"tcp", ":2375"}},
		{host: "tcp://[::1]:0", want: Addr{"tcp", "[::1]:0"}},
		{host: "fd://", want: Addr{"fd", ""}},
		{host: "fd://3", want: Addr{"fd", "3"}},
		{host: "/run/berth.sock", wantErr: `invalid host "/run/berth.sock": want unix:///path`},
		{host: "unix://", wantErr: "the socket path must be absolute"},
		{host: "unix://run/berth.sock", wantErr: "the socket path must be absolute"},
		{host: "tcp://127.0.0.1", wantErr: "want tcp://host:port"},
		{host: "tcp://127.0.0.1:http", wantErr: `bad port "http"`},
		{host: "tcp://127.0.0.1:70000", wantErr: `bad port "70000"`},
		{host: "tcp://1.2.3.4:2375/path", wantErr: `bad port "2375/path"`},
		{host: "fd://2", wantErr: "N >= 3"},
		{host: "fd://x", wantErr: "N >= 3"},
		{host: "http://localhost:80", wantErr: `unsupported protocol "http"`},
	}
	for _, tt := range tests {
		got, err := ParseHost(tt.host)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHost(%q): err = %v, want %q", tt.host, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHost(%q) = %v, %v; want %v", tt.host, got, err, tt.want)
		}
	}
}

func closeAll(t *testing.T, ls []net.Listener) {
	t.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
	})
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "berth.sock")
	ls, err := Init([]string{"unix://" + path}, Options{Group: "daemon", GroupRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, ls)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 || int(st.Uid) != os.Geteuid() || st.Gid != 1 {
		t.Fatalf("socket %v uid %d gid %d, want socket 0660 %d:1 (daemon)", fi.Mode(), st.Uid, st.Gid, os.Geteuid())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ls[0].Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after close: %v", err)
	}
}

func TestUnixSocketGroup(t *testing.T) {
	tests := []struct {
		name     string
		group    string
		required bool
		wantGid  int // -1: the creator's
		wantErr  string
		wantWarn string
	}{
		{name: "numeric gid", group: "4242", required: true, wantGid: 4242},
		{name: "no group", group: "", wantGid: -1},
		{name: "default group missing warns", group: "berth-test-no-such-group", wantGid: -1, wantWarn: `socket group "berth-test-no-such-group" not found: unix sockets stay root:root 0660`},
		{name: "chosen group missing fails", group: "berth-test-no-such-group", required: true, wantErr: `socket group "berth-test-no-such-group" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			path := filepath.Join(t.TempDir(), "berth.sock")
			ls, err := Init([]string{"unix://" + path}, Options{Group: tt.group, GroupRequired: tt.required, Log: log})
			closeAll(t, ls)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("socket created despite the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			gid := int(fi.Sys().(*syscall.Stat_t).Gid)
			if want := tt.wantGid; (want == -1 && gid != os.Getegid()) || (want != -1 && gid != want) || fi.Mode().Perm() != 0o660 {
				t.Fatalf("socket gid %d mode %v, want gid %d mode 0660", gid, fi.Mode().Perm(), want)
			}
			var warned bool
			for _, e := range hook.AllEntries() {
				warned = warned || (e.Level == logrus.WarnLevel && strings.Contains(e.Message, tt.wantWarn))
			}
			if tt.wantWarn != "" && !warned {
				t.Fatalf("no warning %q in %v", tt.wantWarn, hook.AllEntries())
			}
		})
	}
}

func TestUnixStaleSocket(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the file stays, as after a crash

	ls, err := Init([]string{"unix://" + stale}, Options{})
	closeAll(t, ls)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}

	live := filepath.Join(dir, "live.sock")
	l, err = net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Init([]string{"unix://" + live}, Options{}); err == nil || !strings.Contains(err.Error(), "is in use: another daemon is listening on it") {
		t.Fatalf("live socket: err = %v", err)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Init([]string{"unix://" + file}, Options{}); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("regular file: err = %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("regular file clobbered")
	}
}

func TestTCP(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	if _, err := Init([]string{"tcp://127.0.0.1:0"}, Options{Log: log}); err == nil || !strings.Contains(err.Error(), "tcp hosts need insecure-tcp") {
		t.Fatalf("without insecure-tcp: err = %v", err)
	}
	ls, err := Init([]string{"tcp://127.0.0.1:0"}, Options{InsecureTCP: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, ls)
	if ls[0].Addr().Network() != "tcp" {
		t.Fatalf("listener on %v", ls[0].Addr())
	}
	e := hook.LastEntry()
	if e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "unauthenticated and unencrypted") {
		t.Fatalf("no loud warning: %v", hook.AllEntries())
	}
}

// A failing host closes the listeners opened before it.
func TestInitClosesOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.sock")
	ls, err := Init([]string{"unix://" + path, "tcp://127.0.0.1:0"}, Options{})
	if err == nil || ls != nil {
		t.Fatalf("Init = %v, %v", ls, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket of the first host left behind: %v", err)
	}
}

func TestFD(t *testing.T) {
	// Three passed fds: two listening sockets around one that is not.
	newActivated := func(t *testing.T) func() ([]net.Listener, error) {
		a := tcpListener(t)
		b := tcpListener(t)
		return func() ([]net.Listener, error) { return []net.Listener{a, nil, b}, nil }
	}
	tests := []struct {
		name    string
		hosts   []string
		none    bool
		want    []int // indexes into the activated listeners
		wantErr string
	}{
		{name: "all", hosts: []string{"fd://"}, want: []int{0, 2}},
		{name: "one", hosts: []string{"fd://5"}, want: []int{2}},
		{name: "one then the rest", hosts: []string{"fd://5", "fd://"}, want: []int{2, 0}},
		{name: "out of range", hosts: []string{"fd://6"}, wantErr: "systemd passed 3 sockets (fd 3 to 5), not fd 6"},
		{name: "not a socket", hosts: []string{"fd://4"}, wantErr: "fd 4 is not a listening socket"},
		{name: "twice", hosts: []string{"fd://3", "fd://3"}, wantErr: "fd 3 is already in use"},
		{name: "none passed", hosts: []string{"fd://"}, none: true, wantErr: "no sockets were passed by systemd"},
		{name: "none passed, by number", hosts: []string{"fd://3"}, none: true, wantErr: "no sockets were passed by systemd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			activated := newActivated(t)
			all, _ := activated()
			if tt.none {
				activated = func() ([]net.Listener, error) { return nil, nil }
			}
			ls, err := Init(tt.hosts, Options{Activated: activated})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != len(tt.want) {
				t.Fatalf("got %d listeners, want %d", len(ls), len(tt.want))
			}
			for i, j := range tt.want {
				if ls[i] != all[j] {
					t.Fatalf("listener %d is %v, want %v", i, ls[i].Addr(), all[j].Addr())
				}
			}
		})
	}
}

func tcpListener(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

const childEnv = "BERTH_LISTENERS_TEST_CHILD"

// TestFDActivation passes a real listening socket as fd 3 to a child
// process with LISTEN_PID/LISTEN_FDS set as systemd sets them, and checks
// that Init in the child serves it for fd:// (the child is this test binary
// running TestActivationChild).
func TestFDActivation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "activated.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// LISTEN_PID must be the child's pid: sh knows it ($$) and exec keeps it.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run='^TestActivationChild$'`, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=berth.socket")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeting, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's greeting: %v", err)
	}
	if want := "served by the child on unix " + path + "\n"; greeting != want {
		t.Fatalf("greeting %q, want %q", greeting, want)
	}
	rest, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, rest)
	}
}

func TestActivationChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper for TestFDActivation")
	}
	ls, err := Init([]string{"fd://"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("%d listeners", len(ls))
	}
	if os.Getenv("LISTEN_FDS") != "" {
		t.Fatal("LISTEN_FDS still set: a child of ours would think the sockets are its own")
	}
	c, err := ls[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "served by the child on %s %s\n", ls[0].Addr().Network(), ls[0].Addr())
}
