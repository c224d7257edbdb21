package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/sys/signal"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/shim"
	"github.com/berth-engine/berth/container/spec"
)

const defaultStopTimeout = 10

// ContainerStop stops a running container: its stop signal, then SIGKILL
// after the timeout. A container that is not running is a 304.
func (d *Daemon) ContainerStop(ctx context.Context, name string, o containerrouter.StopOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	return d.stopContainer(ctx, c, o.Signal, o.Timeout, true)
}

func (d *Daemon) stopContainer(ctx context.Context, c *container.Container, sigName string, timeout *int, manual bool) error {
	c.Lock()
	if manual {
		c.HasBeenManuallyStopped = true
	}
	if c.State.Restarting {
		d.cancelRestart(c.ID)
		c.State.Restarting = false
		d.saveLocked(c)
		c.Unlock()
		return nil
	}
	if !c.State.Running {
		if manual {
			d.saveLocked(c)
		}
		c.Unlock()
		return cerrdefs.ErrNotModified.WithMessage("container already stopped")
	}
	if manual {
		d.saveLocked(c)
	}
	if sigName == "" {
		sigName = c.Config.StopSignal
	}
	secs := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		secs = *c.Config.StopTimeout
	}
	if timeout != nil {
		secs = *timeout
	}
	wait := c.Wait(ctx, containertypes.WaitConditionNotRunning)
	c.Unlock()

	sig := syscall.SIGTERM
	if sigName != "" {
		s, err := signal.ParseSignal(sigName)
		if err != nil {
			return invalidf("%v", err)
		}
		sig = s
	}
	if err := d.signal(ctx, c, sig, false); err != nil && !errors.Is(err, errNoShim) {
		d.log.WithError(err).WithField("container", c.ID).Warn("sending stop signal")
	}
	// A negative timeout waits for as long as it takes.
	var expired <-chan time.Time
	if secs >= 0 {
		t := time.NewTimer(time.Duration(secs) * time.Second)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-wait:
		d.logContainerEvent(c, eventtypes.ActionStop, nil)
		return nil
	case <-expired:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.log.WithField("container", container.ShortID(c.ID)).Infof("container did not stop within %ds of signal %d: killing it", secs, sig)
	if err := d.signal(ctx, c, syscall.SIGKILL, true); err != nil && !errors.Is(err, errNoShim) {
		return err
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.logContainerEvent(c, eventtypes.ActionStop, nil)
	return nil
}

// signal sends sig to the container's init (all processes with all); a
// paused container is thawed after SIGKILL so it can die.
func (d *Daemon) signal(ctx context.Context, c *container.Container, sig syscall.Signal, all bool) error {
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return errNoShim
	}
	if err := cl.Kill(ctx, sig, all); err != nil {
		return err
	}
	d.logContainerEvent(c, eventtypes.ActionKill, map[string]string{"signal": fmt.Sprint(int(sig))})
	if sig == syscall.SIGKILL {
		c.Lock()
		paused := c.State.Paused
		c.Unlock()
		if paused {
			cl.Resume(ctx)
		}
	}
	return nil
}

// ContainerKill sends a signal (default SIGKILL).
func (d *Daemon) ContainerKill(ctx context.Context, name, sigName string) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if sigName != "" {
		s, err := signal.ParseSignal(sigName)
		if err != nil {
			return invalidf("%v", err)
		}
		sig = s
	}
	// The API router prefixes errors with "cannot kill container: <name>".
	c.Lock()
	if c.State.Restarting {
		// Waiting for its restart policy: a kill stops it for good, as
		// Docker's.
		c.HasBeenManuallyStopped = true
		c.State.Restarting = false
		d.saveLocked(c)
		c.Unlock()
		d.cancelRestart(c.ID)
		return nil
	}
	running := c.State.Running
	if running && (sig == syscall.SIGKILL || sig == syscall.SIGTERM) {
		// A kill is a stop by the user for the restart policy.
		c.HasBeenManuallyStopped = true
		d.saveLocked(c)
	}
	c.Unlock()
	if !running {
		return conflictf("container %s is not running", c.ID)
	}
	if err := d.signal(ctx, c, sig, false); err != nil {
		if errors.Is(err, errNoShim) || cerrdefs.IsConflict(err) {
			return conflictf("container %s is not running", c.ID)
		}
		return fmt.Errorf("sending signal %d to container %s: %w", sig, c.ID, err)
	}
	return nil
}

// ContainerRestart stops (if running) and starts a container.
func (d *Daemon) ContainerRestart(ctx context.Context, name string, o containerrouter.StopOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	// Stopped as by hand, so that the restart policy does not start it
	// meanwhile; resetRestartPolicy clears that. A --rm container is not
	// removed at this exit; the start clears that.
	c.Lock()
	c.HasBeenManuallyRestarted = true
	c.Unlock()
	if err := d.stopContainer(ctx, c, o.Signal, o.Timeout, true); err != nil && !cerrdefs.IsNotModified(err) {
		c.Lock()
		c.HasBeenManuallyRestarted = false
		c.Unlock()
		return err
	}
	c.Lock()
	defer c.Unlock()
	d.resetRestartPolicy(c)
	if err := d.containerStartLocked(ctx, c); err != nil {
		return err
	}
	d.logContainerEvent(c, eventtypes.ActionRestart, nil)
	return nil
}

// ContainerWait returns a channel for the condition.
func (d *Daemon) ContainerWait(ctx context.Context, name string, cond containertypes.WaitCondition) (<-chan containertypes.WaitResponse, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	c.Lock()
	ch := c.Wait(ctx, cond)
	c.Unlock()
	out := make(chan containertypes.WaitResponse, 1)
	go func() {
		select {
		case st := <-ch:
			r := containertypes.WaitResponse{StatusCode: int64(st.Code)}
			if st.Err != "" {
				r.Error = &containertypes.WaitExitError{Message: st.Err}
			}
			out <- r
		case <-ctx.Done():
		}
		close(out)
	}()
	return out, nil
}

// ContainerRemove removes a container; a running one only with force.
func (d *Daemon) ContainerRemove(ctx context.Context, name string, o containerrouter.RemoveOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	if o.RemoveLink {
		return invalidf("Conflict, cannot remove the default link name of the container")
	}
	c.Lock()
	running, paused, restarting := c.State.Running, c.State.Paused, c.State.Restarting
	if c.State.Removing || c.RemovalClaimed() {
		c.Unlock()
		return conflictf("removal of container %s is already in progress", name)
	}
	if (running || restarting) && !o.Force {
		c.Unlock()
		// Docker's messages, with the name's "/".
		switch {
		case paused:
			return conflictf("cannot remove container %q: container is paused and must be unpaused first", c.Name)
		case restarting:
			return conflictf("cannot remove container %q: container is restarting: stop the container before removing or force remove", c.Name)
		}
		return conflictf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name)
	}
	// Under the lock that the exit handling and the policy's restart take:
	// no restart is scheduled or run from here on.
	if running || restarting {
		c.HasBeenManuallyStopped = true
		c.State.Restarting = false
	}
	// Claimed before the kill: the exit it causes does not auto-remove a
	// `run --rm` container behind this removal's back.
	c.ClaimRemoval()
	wait := c.Wait(ctx, containertypes.WaitConditionNotRunning)
	c.Unlock()
	abandon := func(err error) error {
		c.Lock()
		c.ReleaseRemoval()
		c.Unlock()
		return err
	}
	d.cancelRestart(c.ID)
	if running {
		// It may exit on its own meanwhile: then the kill finds nothing
		// to kill, and the wait ends all the same.
		err := d.signal(ctx, c, syscall.SIGKILL, true)
		if err != nil && !errors.Is(err, errNoShim) && !errors.Is(err, shim.ErrNoShim) && !cerrdefs.IsConflict(err) {
			return abandon(fmt.Errorf("could not kill running container %s, cannot remove: %w", c.ID, err))
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return abandon(ctx.Err())
		}
	}
	return d.removeClaimed(c, o.RemoveVolumes)
}

// removeContainer deletes a stopped container: volume references (and with
// removeVolumes its anonymous volumes), record, then layer and files. It
// refuses a container another removal holds.
func (d *Daemon) removeContainer(c *container.Container, removeVolumes bool) error {
	c.Lock()
	claimed := c.ClaimRemoval()
	c.Unlock()
	if !claimed {
		return conflictf("removal of container %s is already in progress", c.ID)
	}
	return d.removeClaimed(c, removeVolumes)
}

// removeClaimed is removeContainer once the caller holds c's removal.
//
// The container is gone, and its waiters (`wait?condition=removed`, which
// `docker run --rm` blocks on) are woken, once its record is deleted: the
// read-write layer and the files go after that. What a crash or a failure
// leaves of them belongs to no container, and the next start removes it
// (sweepOrphanLayers).
func (d *Daemon) removeClaimed(c *container.Container, removeVolumes bool) error {
	c.Lock()
	if c.State.Running {
		c.ReleaseRemoval()
		c.Unlock()
		return conflictf("cannot remove a running container %s", c.ID)
	}
	// docker cp or export holds the filesystem: the layer could not go
	// after the record.
	rw, rwErr := d.layerOf(c)
	if rwErr == nil && rw.Mounted() {
		c.ReleaseRemoval()
		c.Unlock()
		return conflictf("cannot remove container %s: its filesystem is in use (docker cp or export): try again once that ends", c.ID)
	}
	if !c.State.Removing {
		c.State.Removing = true
		d.saveLocked(c)
	}
	c.Unlock()
	ctx := context.Background()
	var anon []string
	for _, m := range c.Mounts {
		if m.Anonymous && m.Name != "" && removeVolumes {
			anon = append(anon, m.Name)
		}
	}
	d.releaseVolumes(ctx, c.ID, c.Mounts, anon)
	if err := d.rt.store.Delete(c); err != nil {
		c.Lock()
		c.ReleaseRemoval()
		c.Unlock()
		return err
	}
	d.rt.mu.Lock()
	delete(d.rt.backoff, c.ID)
	d.rt.mu.Unlock()
	c.Lock()
	c.SetRemoved()
	c.Unlock()
	d.logContainerEvent(c, eventtypes.ActionDestroy, nil)

	if rwErr == nil {
		if _, err := d.img.layers.ReleaseRWLayer(rw); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("removing the container's layer; the next start removes what is left")
		}
	}
	os.RemoveAll(filepath.Join(d.rt.root, c.ID))
	os.RemoveAll(d.rt.stateDir(c.ID))
	return nil
}

// sweepOrphanLayers removes the read-write layers that no container owns:
// left by a crash between a create's layer and its record, or by a removal
// whose record went but not its layer.
func (d *Daemon) sweepOrphanLayers() {
	owned := map[string]bool{}
	for _, c := range d.rt.store.List() {
		owned[c.ID] = true
	}
	for _, name := range d.img.layers.RWLayers() {
		if owned[name] {
			continue
		}
		rw, err := d.img.layers.GetRWLayer(name)
		if err != nil {
			continue
		}
		if _, err := d.img.layers.ReleaseRWLayer(rw); err != nil {
			d.log.WithError(err).WithField("layer", name).Warn("restore: removing a read-write layer no container owns")
			continue
		}
		d.log.WithField("layer", name).Info("restore: removed a read-write layer no container owns")
	}
}

// ContainerPause freezes the container's processes.
func (d *Daemon) ContainerPause(ctx context.Context, name string) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if !c.State.Running {
		return conflictf("container %s is not running", c.ID)
	}
	if c.State.Paused {
		return conflictf("container %s is already paused", c.ID)
	}
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return conflictf("container %s is not running", c.ID)
	}
	if err := cl.Pause(ctx); err != nil {
		return fmt.Errorf("cannot pause container %s: %w", c.ID, err)
	}
	c.State.Paused = true
	d.saveLocked(c)
	d.logContainerEvent(c, eventtypes.ActionPause, nil)
	return nil
}

// ContainerUnpause thaws a paused container.
func (d *Daemon) ContainerUnpause(ctx context.Context, name string) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if !c.State.Paused {
		return conflictf("container %s is not paused", c.ID)
	}
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return conflictf("container %s is not running", c.ID)
	}
	if err := cl.Resume(ctx); err != nil {
		return fmt.Errorf("cannot unpause container %s: %w", c.ID, err)
	}
	c.State.Paused = false
	d.saveLocked(c)
	d.logContainerEvent(c, eventtypes.ActionUnPause, nil)
	return nil
}

// ContainerRename renames a container.
func (d *Daemon) ContainerRename(ctx context.Context, oldName, newName string) error {
	if newName == "" {
		return invalidf("Neither old nor new names may be empty")
	}
	c, err := d.getContainer(oldName)
	if err != nil {
		return err
	}
	newName = "/" + newName
	if !container.ValidName.MatchString(newName[1:]) {
		return invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName[1:])
	}
	c.Lock()
	defer c.Unlock()
	old := c.Name
	if old == newName {
		return invalidf("Renaming a container with the same name as its current name")
	}
	if err := d.rt.store.Rename(c, newName); err != nil {
		return err
	}
	if err := d.rt.store.Save(c); err != nil {
		d.rt.store.Rename(c, old)
		return err
	}
	d.logContainerEvent(c, eventtypes.ActionRename, map[string]string{"oldName": old})
	return nil
}

// ContainerUpdate changes resources and the restart policy, live for a
// running container.
func (d *Daemon) ContainerUpdate(ctx context.Context, name string, u *containertypes.UpdateConfig) (*containertypes.UpdateResponse, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	hc := *c.HostConfig
	r := &hc.Resources
	n := u.Resources
	if n.Memory != 0 {
		r.Memory = n.Memory
	}
	if n.MemorySwap != 0 {
		r.MemorySwap = n.MemorySwap
	}
	if n.MemoryReservation != 0 {
		r.MemoryReservation = n.MemoryReservation
	}
	if n.NanoCPUs != 0 {
		r.NanoCPUs = n.NanoCPUs
	}
	if n.CPUShares != 0 {
		r.CPUShares = n.CPUShares
	}
	if n.CPUQuota != 0 {
		r.CPUQuota = n.CPUQuota
	}
	if n.CPUPeriod != 0 {
		r.CPUPeriod = n.CPUPeriod
	}
	if n.CpusetCpus != "" {
		r.CpusetCpus = n.CpusetCpus
	}
	if n.CpusetMems != "" {
		r.CpusetMems = n.CpusetMems
	}
	if n.PidsLimit != nil {
		r.PidsLimit = n.PidsLimit
	}
	if n.BlkioWeight != 0 {
		r.BlkioWeight = n.BlkioWeight
	}
	if u.RestartPolicy.Name != "" {
		if hc.AutoRemove && u.RestartPolicy.Name != "no" {
			return nil, invalidf("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = u.RestartPolicy
	}
	if err := d.applyHostConfigDefaults(&hc); err != nil {
		return nil, err
	}
	warnings, err := spec.DiscardUnsupported(&hc.Resources)
	if err != nil {
		return nil, err
	}
	if warnings == nil {
		warnings = []string{}
	}
	if c.State.Running {
		cl := d.rt.shimOf(c.ID)
		if cl == nil {
			return nil, conflictf("container %s is not running", c.ID)
		}
		s, err := d.runtimeSpec(c, c.Config, &hc)
		if err != nil {
			return nil, err
		}
		if err := cl.Update(ctx, s.Linux.Resources); err != nil {
			return nil, fmt.Errorf("cannot update container %s: %w", c.ID, err)
		}
	}
	c.HostConfig = &hc
	d.saveLocked(c)
	d.logContainerEvent(c, eventtypes.ActionUpdate, nil)
	return &containertypes.UpdateResponse{Warnings: warnings}, nil
}

// ContainerResize resizes the TTY of the container's init.
func (d *Daemon) ContainerResize(ctx context.Context, name string, height, width uint16) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return conflictf("container %s is not running", c.ID)
	}
	if err := cl.Resize(ctx, "", height, width); err != nil {
		return err
	}
	d.logContainerEvent(c, eventtypes.ActionResize, map[string]string{"height": fmt.Sprint(height), "width": fmt.Sprint(width)})
	return nil
}
