package container

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
)

// State is a container's run state, persisted with it.
type State struct {
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Removing   bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Status is the state's one-word form, as `docker inspect` shows it.
func (s *State) Status() container.ContainerState {
	switch {
	case s.Removing:
		return container.StateRemoving
	case s.Dead:
		return container.StateDead
	case s.Restarting:
		return container.StateRestarting
	case s.Paused:
		return container.StatePaused
	case s.Running:
		return container.StateRunning
	case s.StartedAt.IsZero():
		return container.StateCreated
	}
	return container.StateExited
}

// String is the STATUS column of `docker ps`.
func (s *State) String(now time.Time) string {
	switch {
	case s.Running && s.Paused:
		return fmt.Sprintf("Up %s (Paused)", humanDuration(now.Sub(s.StartedAt)))
	case s.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, humanDuration(now.Sub(s.FinishedAt)))
	case s.Running:
		return "Up " + humanDuration(now.Sub(s.StartedAt))
	case s.Removing:
		return "Removal In Progress"
	case s.Dead:
		return "Dead"
	case s.StartedAt.IsZero():
		return "Created"
	case s.FinishedAt.IsZero():
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(now.Sub(s.FinishedAt)))
}

// humanDuration is go-units' HumanDuration, which Docker's status uses.
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// ExitStatus is what a wait yields.
type ExitStatus struct {
	Code int
	Err  string
}

// waits are the channels closed when the container stops (one per run) and
// when it is removed.
type waits struct {
	stop    chan struct{}
	stopped ExitStatus
	removed chan struct{}
}

func (w *waits) init() {
	if w.stop == nil {
		w.stop = make(chan struct{})
	}
	if w.removed == nil {
		w.removed = make(chan struct{})
	}
}

// SetRunning records a start. Caller holds the lock.
func (c *Container) SetRunning(pid int, now time.Time) {
	c.waits.init()
	c.State.Running, c.State.Paused, c.State.Restarting, c.State.Dead = true, false, false, false
	c.State.OOMKilled = false
	c.State.Pid, c.State.ExitCode, c.State.Error = pid, 0, ""
	c.State.StartedAt = now
	c.HasBeenStartedBefore = true
}

// SetStopped records an exit and releases next-exit and not-running waits.
// Caller holds the lock.
func (c *Container) SetStopped(code int, oomKilled bool, at time.Time, errMsg string) {
	c.waits.init()
	c.State.Running, c.State.Paused, c.State.Restarting = false, false, false
	c.State.Pid, c.State.ExitCode, c.State.OOMKilled = 0, code, oomKilled
	c.State.FinishedAt = at
	c.State.Error = errMsg
	c.waits.stopped = ExitStatus{Code: code, Err: errMsg}
	close(c.waits.stop)
	c.waits.stop = make(chan struct{}) // for the next run's waits
}

// SetRestarting marks the container as waiting for its restart policy.
func (c *Container) SetRestarting(code int, at time.Time) {
	c.SetStopped(code, c.State.OOMKilled, at, "")
	c.State.Restarting = true
}

// ClaimRemoval marks a removal of c in progress and reports whether the
// caller got it: false while another removal holds c, so that `docker rm
// -f` and the auto-removal of a `run --rm` container it kills do not both
// remove it. The claim lives in memory only; a removal that fails before
// the container is gone calls ReleaseRemoval. Caller holds the lock.
func (c *Container) ClaimRemoval() bool {
	if c.removal {
		return false
	}
	c.removal = true
	return true
}

// ReleaseRemoval ends a claim whose removal failed. Caller holds the lock.
func (c *Container) ReleaseRemoval() { c.removal = false }

// RemovalClaimed reports whether a removal holds c. Caller holds the lock.
func (c *Container) RemovalClaimed() bool { return c.removal }

// SetRemoved releases removed waits. Caller holds the lock.
func (c *Container) SetRemoved() {
	c.waits.init()
	select {
	case <-c.waits.removed:
	default:
		close(c.waits.removed)
	}
}

// Wait returns a channel that yields the exit status once cond holds. It is
// registered at once, so a next-exit wait taken before a start sees that
// run's exit. The caller holds the lock.
func (c *Container) Wait(ctx context.Context, cond container.WaitCondition) <-chan ExitStatus {
	c.waits.init()
	out := make(chan ExitStatus, 1)
	switch cond {
	case container.WaitConditionRemoved:
		removed := c.waits.removed
		go func() {
			select {
			case <-removed: // a running container is stopped before removal
				out <- c.lastExit()
			case <-ctx.Done():
			}
		}()
		return out
	case container.WaitConditionNotRunning, "":
		if !c.State.Running && !c.State.Restarting {
			out <- ExitStatus{Code: c.State.ExitCode, Err: c.State.Error}
			return out
		}
	}
	stop := c.waits.stop
	go func() {
		select {
		case <-stop:
			out <- c.lastExit()
		case <-ctx.Done():
		}
	}()
	return out
}

func (c *Container) lastExit() ExitStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waits.stopped == (ExitStatus{}) {
		return ExitStatus{Code: c.State.ExitCode, Err: c.State.Error}
	}
	return c.waits.stopped
}
