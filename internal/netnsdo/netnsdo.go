// Package netnsdo runs code inside another network namespace. A namespace
// is a property of an OS thread, so the work runs on a fresh goroutine
// locked to its thread, which enters the namespace and comes back; sockets
// made there stay in that namespace. If the thread cannot come back it is
// left locked, so the Go runtime ends it with its goroutine instead of
// reusing it in the wrong namespace.
package netnsdo

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a thread inside ns and returns fn's error (or the error
// of entering ns).
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
