package container

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func waitOn(t *testing.T, c *Container, cond container.WaitCondition) <-chan ExitStatus {
	t.Helper()
	c.Lock()
	defer c.Unlock()
	return c.Wait(context.Background(), cond)
}

func expectNone(t *testing.T, ch <-chan ExitStatus, what string) {
	t.Helper()
	select {
	case st := <-ch:
		t.Fatalf("%s: returned %+v early", what, st)
	case <-time.After(20 * time.Millisecond):
	}
}

func expectExit(t *testing.T, ch <-chan ExitStatus, code int, what string) {
	t.Helper()
	select {
	case st := <-ch:
		if st.Code != code {
			t.Fatalf("%s: code %d, want %d", what, st.Code, code)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no result", what)
	}
}

func TestWaitConditions(t *testing.T) {
	c := &Container{ID: NewID()}
	now := time.Now()

	// A created container is not running: not-running answers at once.
	expectExit(t, waitOn(t, c, container.WaitConditionNotRunning), 0, "not-running on a created container")

	// next-exit taken before the start sees that run's exit.
	next := waitOn(t, c, container.WaitConditionNextExit)
	removed := waitOn(t, c, container.WaitConditionRemoved)
	c.Lock()
	c.SetRunning(42, now)
	c.Unlock()
	notRunning := waitOn(t, c, container.WaitConditionNotRunning)
	expectNone(t, next, "next-exit while running")
	expectNone(t, notRunning, "not-running while running")
	c.Lock()
	c.SetStopped(3, false, now, "")
	c.Unlock()
	expectExit(t, next, 3, "next-exit")
	expectExit(t, notRunning, 3, "not-running")
	expectNone(t, removed, "removed before the removal")

	// A container waiting for its restart policy is not "not running".
	c.Lock()
	c.SetRunning(43, now)
	c.SetRestarting(1, now)
	c.Unlock()
	notRunning = waitOn(t, c, container.WaitConditionNotRunning)
	expectNone(t, notRunning, "not-running while restarting")
	c.Lock()
	c.SetRunning(44, now)
	c.SetStopped(137, false, now, "")
	c.Unlock()
	expectExit(t, notRunning, 137, "not-running after the restart's exit")

	// removed yields the last exit.
	c.Lock()
	c.SetRemoved()
	c.SetRemoved() // idempotent
	c.Unlock()
	expectExit(t, removed, 137, "removed")
}
