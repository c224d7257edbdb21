package network

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-engine/berth/internal/netnsdo"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// scratchNS is a network namespace of the test's own, held by an fd: closing
// it (at cleanup) destroys the namespace and every interface in it. The
// tests' "host" and "containers" are all scratch namespaces; nothing touches
// the real host's interfaces, routes or firewall.
type scratchNS struct {
	ns   netns.NsHandle
	path string
	h    *netlink.Handle
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
}

func newScratchNS(t testing.TB) *scratchNS {
	t.Helper()
	ns := netns.None()
	err := onLockedThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		ns, err = netns.New() // unshare: this thread is now inside it...
		if err != nil {
			return err
		}
		return netns.Set(orig) // ...until we go back
	})
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		t.Skipf("cannot create a network namespace: %v", err)
	}
	s := &scratchNS{ns: ns, path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))}
	t.Cleanup(func() { s.ns.Close() })
	s.h, err = netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.h.Close)
	lo, err := s.h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return s
}

// onLockedThread runs fn on a fresh locked OS thread. If fn leaves the thread
// in another namespace, the thread is not unlocked, so the runtime kills it
// instead of reusing it.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		err = fn()
		if cur, cerr := netns.Get(); cerr == nil {
			if cur.Equal(orig) {
				runtime.UnlockOSThread()
			}
			cur.Close()
		}
		errc <- err
	}()
	return <-errc
}

// in runs fn on a thread inside s (sockets made there stay there).
func (s *scratchNS) in(fn func() error) error { return netnsdo.Do(s.ns, fn) }

// links lists the interface names of s.
func (s *scratchNS) links(t testing.TB) []string {
	t.Helper()
	ll, err := s.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ll {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}

// checkHostUntouched fails the test if an interface of the kinds the
// Controller makes appeared in the real host namespace while it ran.
func checkHostUntouched(t testing.TB) {
	t.Helper()
	ours := func() []string {
		ll, err := netlink.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range ll {
			n := l.Attrs().Name
			if n == DefaultBridgeName || strings.HasPrefix(n, "br-") || strings.HasPrefix(n, "veth") {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}
	before := ours()
	t.Cleanup(func() {
		if after := ours(); !slices.Equal(before, after) {
			t.Errorf("host interfaces changed: before %v, after %v", before, after)
		}
	})
}

func testLog(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if testing.Verbose() {
		l.SetOutput(os.Stderr)
		l.SetLevel(logrus.DebugLevel)
	}
	return logrus.NewEntry(l)
}

// listenIn opens a TCP listener on addr inside s that answers every
// connection with reply, until the test ends.
func listenIn(t testing.TB, s *scratchNS, addr, reply string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := s.in(func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(reply))
			c.Close()
		}
	}()
	return l
}

// dialFrom connects from s to addr and returns what the peer sends.
func dialFrom(s *scratchNS, addr string) (string, error) {
	var c net.Conn
	err := s.in(func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	return readAll(c)
}

func readAll(c net.Conn) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}
