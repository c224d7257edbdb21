// Package netnstest gives tests network namespaces of their own, so that
// tests of links, addresses and firewall rules never touch the host's. It is
// imported only by _test files.
package netnstest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-engine/berth/internal/netnsdo"
)

// NS is a network namespace held by an fd: closing it (which the test's
// cleanup does) destroys the namespace and every interface in it.
type NS struct {
	Handle netns.NsHandle
	Path   string          // /proc/<pid>/fd/<fd>, for nsenter and for code that takes a path
	Link   *netlink.Handle // a netlink socket inside it
}

// NeedRoot skips the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
}

// New creates a namespace with lo up, closed when the test ends. It skips
// the test when namespaces cannot be created.
func New(t testing.TB) *NS {
	t.Helper()
	ns, err := create()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	s := &NS{Handle: ns, Path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))}
	t.Cleanup(func() { s.Handle.Close() }) // a no-op if the test closed it (Close sets -1)
	if s.Link, err = netlink.NewHandleAt(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Link.Close)
	lo, err := s.Link.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Link.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return s
}

// Do runs fn on a thread inside s (sockets made there stay there).
func (s *NS) Do(fn func() error) error { return netnsdo.Do(s.Handle, fn) }

// create makes a namespace on a locked thread of its own and brings that
// thread back; a thread that cannot come back stays locked, so the runtime
// ends it rather than reuse it in the wrong namespace.
func create() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{netns.None(), err}
			return
		}
		defer orig.Close()
		ns, err := netns.New() // unshare: this thread is now inside it...
		if err != nil {
			res <- result{netns.None(), err} // where the thread is now is unknown: stay locked
			return
		}
		if err := netns.Set(orig); err != nil { // ...until it goes back
			ns.Close()
			res <- result{netns.None(), err}
			return
		}
		runtime.UnlockOSThread()
		res <- result{ns, nil}
	}()
	r := <-res
	return r.ns, r.err
}
