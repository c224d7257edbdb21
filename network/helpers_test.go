package network

import (
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-engine/berth/internal/netnstest"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
)

// links lists the interface names of s.
func links(t testing.TB, s *netnstest.NS) []string {
	t.Helper()
	ll, err := s.Link.LinkList()
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
func listenIn(t testing.TB, s *netnstest.NS, addr, reply string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := s.Do(func() (err error) {
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
func dialFrom(s *netnstest.NS, addr string) (string, error) {
	var c net.Conn
	err := s.Do(func() (err error) {
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
