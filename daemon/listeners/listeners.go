// Package listeners opens the API's listening sockets from -H hosts:
// unix:///path (a root:<group> 0660 socket), tcp://host:port (only when
// insecure TCP is allowed), and fd:// or fd://N (sockets passed by systemd
// socket activation).
package listeners

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/sirupsen/logrus"
)

// Addr is a parsed host: Proto is unix, tcp or fd; Addr is the socket path,
// the host:port, or the fd number ("" for every passed socket).
type Addr struct {
	Proto, Addr string
}

func (a Addr) String() string { return a.Proto + "://" + a.Addr }

// ParseHost parses one -H value.
func ParseHost(host string) (Addr, error) {
	proto, rest, ok := strings.Cut(host, "://")
	if !ok {
		return Addr{}, fmt.Errorf("invalid host %q: want unix:///path, tcp://host:port, fd:// or fd://N", host)
	}
	switch proto {
	case "unix":
		if !filepath.IsAbs(rest) {
			return Addr{}, fmt.Errorf("invalid host %q: the socket path must be absolute", host)
		}
		return Addr{"unix", filepath.Clean(rest)}, nil
	case "tcp":
		_, port, err := net.SplitHostPort(rest)
		if err != nil {
			return Addr{}, fmt.Errorf("invalid host %q: want tcp://host:port: %w", host, err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return Addr{}, fmt.Errorf("invalid host %q: bad port %q", host, port)
		}
		return Addr{"tcp", rest}, nil
	case "fd":
		if rest == "" {
			return Addr{"fd", ""}, nil
		}
		if n, err := strconv.Atoi(rest); err != nil || n < 3 {
			return Addr{}, fmt.Errorf("invalid host %q: want fd:// or fd://N with N >= 3", host)
		}
		return Addr{"fd", rest}, nil
	default:
		return Addr{}, fmt.Errorf("invalid host %q: unsupported protocol %q", host, proto)
	}
}

// Options configure Init.
type Options struct {
	// Group owns the unix sockets Init creates ("" leaves them root's).
	Group string
	// GroupRequired makes a missing Group an error; otherwise (the default
	// group, which packages may not have created) it is a warning and the
	// sockets stay root's.
	GroupRequired bool
	// InsecureTCP allows tcp:// hosts.
	InsecureTCP bool
	// Log gets one "API listening on" line per listener (nil: no logging).
	Log logrus.FieldLogger
	// Activated returns the sockets systemd passed, in fd order (nil for a
	// passed fd that is not a listening socket). Nil means the real thing,
	// activation.Listeners, which reads LISTEN_PID/LISTEN_FDS.
	Activated func() ([]net.Listener, error)
}

// Init opens a listener for every host, logging each. On error, it closes
// the ones already opened.
func Init(hosts []string, o Options) (ls []net.Listener, err error) {
	if o.Activated == nil {
		o.Activated = activation.Listeners
	}
	if o.Log == nil {
		quiet := logrus.New()
		quiet.SetOutput(io.Discard)
		o.Log = quiet
	}
	defer func() {
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			ls = nil
		}
	}()
	in := initializer{Options: o}
	for _, h := range hosts {
		a, err := ParseHost(h)
		if err != nil {
			return ls, err
		}
		var got []net.Listener
		switch a.Proto {
		case "unix":
			got, err = in.unix(a.Addr)
		case "tcp":
			got, err = in.tcp(a.Addr)
		case "fd":
			got, err = in.fd(a.Addr)
		}
		if err != nil {
			return ls, fmt.Errorf("listening on %s: %w", h, err)
		}
		ls = append(ls, got...)
	}
	return ls, nil
}

// initializer holds what Init learns once for all hosts: the socket
// group's gid and the activated sockets.
type initializer struct {
	Options
	gid       *int
	activated []net.Listener
	fetched   bool
	used      map[int]bool
}

func (in *initializer) unix(path string) ([]net.Listener, error) {
	gid, err := in.groupID()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Owner stays us (root); the group gets read-write, others nothing.
	if err := os.Chown(path, -1, gid); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting the socket's group: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting the socket's mode: %w", err)
	}
	in.Log.Infof("API listening on %s", path)
	return []net.Listener{l}, nil
}

func (in *initializer) tcp(addr string) ([]net.Listener, error) {
	if !in.InsecureTCP {
		return nil, errors.New("tcp hosts need insecure-tcp until TLS is supported (the API would be unauthenticated and unencrypted)")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	in.Log.Infof("API listening on tcp://%s", l.Addr())
	in.Log.Warnf("INSECURE: the API on tcp://%s is unauthenticated and unencrypted: anyone who can reach it has root on this host. Use it only on a trusted network until TLS is supported.", l.Addr())
	return []net.Listener{l}, nil
}

// fd serves systemd's sockets: all of them for fd://, fd N for fd://N.
func (in *initializer) fd(n string) ([]net.Listener, error) {
	if !in.fetched {
		var err error
		in.activated, err = in.Activated()
		if err != nil {
			return nil, fmt.Errorf("reading systemd's sockets: %w", err)
		}
		in.fetched, in.used = true, map[int]bool{}
	}
	if len(in.activated) == 0 {
		return nil, errors.New("no sockets were passed by systemd (LISTEN_FDS unset; start berthd through its .socket unit)")
	}
	var pick []int
	if n == "" {
		for i, l := range in.activated {
			if l != nil && !in.used[i] {
				pick = append(pick, i)
			}
		}
		if len(pick) == 0 {
			return nil, errors.New("no unused listening sockets among those systemd passed")
		}
	} else {
		fd, _ := strconv.Atoi(n)
		i := fd - 3 // SD_LISTEN_FDS_START
		switch {
		case i >= len(in.activated):
			return nil, fmt.Errorf("systemd passed %d sockets (fd 3 to %d), not fd %d", len(in.activated), 2+len(in.activated), fd)
		case in.activated[i] == nil:
			return nil, fmt.Errorf("fd %d is not a listening socket", fd)
		case in.used[i]:
			return nil, fmt.Errorf("fd %d is already in use by another host", fd)
		}
		pick = []int{i}
	}
	ls := make([]net.Listener, 0, len(pick))
	for _, i := range pick {
		in.used[i] = true
		ls = append(ls, in.activated[i])
		in.Log.Infof("API listening on fd://%d (%s %s)", i+3, in.activated[i].Addr().Network(), in.activated[i].Addr())
	}
	return ls, nil
}

// groupID resolves the socket group once; -1 means leave the group alone.
func (in *initializer) groupID() (int, error) {
	if in.gid != nil {
		return *in.gid, nil
	}
	gid := -1
	if in.Group != "" {
		g, err := lookupGroup(in.Group)
		switch {
		case err == nil:
			gid = g
		case in.GroupRequired:
			return 0, err
		default:
			in.Log.Warnf("%v: unix sockets stay root:root 0660; create the group to grant non-root users API access", err)
		}
	}
	in.gid = &gid
	return gid, nil
}

// lookupGroup takes a group name or a numeric gid.
func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if gid, err := strconv.Atoi(name); err == nil && gid >= 0 {
		return gid, nil
	}
	return 0, fmt.Errorf("socket group %q not found", name)
}

// removeStale removes a socket file left by a previous run, refusing to
// remove anything else or a socket someone still listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use: another daemon is listening on it", path)
	}
	return os.Remove(path)
}
