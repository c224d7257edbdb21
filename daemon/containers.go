package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/shim"
)

// containerRuntime is the container subsystem's live side: the store of container
// records, the shims of running containers, the exec sessions, and the
// attach requests waiting for a start.
type containerRuntime struct {
	store *container.Store
	// shimBinary is berth-shim: a small cgo binary that holds each running
	// container and is re-executed by libcontainer as the container's init.
	shimBinary string
	shimErr    error
	// root is <data-root>/containers: per-container logs and the files
	// bound over /etc/hosts, /etc/hostname and /etc/resolv.conf.
	root string
	// execRoot is <exec-root>/containers: shim state dirs (bundles);
	// runtimeRoot is libcontainer's state root.
	execRoot, runtimeRoot string

	mu      sync.Mutex
	shims   map[string]*shim.Client // running containers' shims, by ID
	pending map[string][]pendingAttach
	execs   map[string]*execSession
	// restarts are the timers of containers waiting for their restart
	// policy's backoff.
	restarts map[string]*time.Timer
	backoff  map[string]*restartBackoff
}

func (d *Daemon) openContainers() error {
	shimBin, shimErr := findShim()
	if shimErr != nil {
		// Volumes and images still work; starting a container says why not.
		d.log.WithError(shimErr).Error("containers cannot run")
	}
	rt := &containerRuntime{
		shimErr:     shimErr,
		shimBinary:  shimBin,
		root:        filepath.Join(d.cfg.DataRoot, "containers"),
		execRoot:    filepath.Join(d.cfg.ExecRoot, "containers"),
		runtimeRoot: filepath.Join(d.cfg.ExecRoot, "runtime"),
		shims:       map[string]*shim.Client{},
		pending:     map[string][]pendingAttach{},
		execs:       map[string]*execSession{},
		restarts:    map[string]*time.Timer{},
		backoff:     map[string]*restartBackoff{},
	}
	for _, dir := range []string{rt.root, rt.execRoot, rt.runtimeRoot} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return err
		}
	}
	var err error
	if rt.store, err = container.Open(rt.root); err != nil {
		return err
	}
	d.rt = rt
	d.log.WithFields(logrus.Fields{"containers": len(rt.store.List()), "shim": shimBin}).Info("container store loaded")
	return nil
}

// findShim looks for berth-shim beside berthd's executable, then in PATH.
func findShim() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "berth-shim")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "berth-shim")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", cerrdefs.ErrUnavailable.WithMessage("berth-shim not found beside berthd or in PATH: containers cannot run (make binary builds it)")
}

func (rt *containerRuntime) stateDir(id string) string { return filepath.Join(rt.execRoot, id) }

func (rt *containerRuntime) shimOf(id string) *shim.Client {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.shims[id]
}

// restoreContainers rebuilds the runtime from disk after a start: volume
// references are taken again, shims of running containers reconnected (or,
// without live-restore, their containers stopped), containers whose shim is
// gone marked exited with the code it left, and containers with restart
// policy always or unless-stopped started.
func (d *Daemon) restoreContainers(ctx context.Context) {
	var wg sync.WaitGroup
	var toStart []*container.Container
	var mu sync.Mutex
	for _, c := range d.rt.store.List() {
		for _, name := range c.Volumes() {
			if err := d.volumes.Acquire(name, c.ID); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Warn("restore: volume missing")
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d.restoreOne(ctx, c) {
				mu.Lock()
				toStart = append(toStart, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, c := range toStart {
		go func() {
			if err := d.containerStart(context.Background(), c); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Error("restart policy: start at daemon start failed")
			}
		}()
	}
}

// restoreOne reconciles one container; it reports whether the container
// should be started by its restart policy.
func (d *Daemon) restoreOne(ctx context.Context, c *container.Container) (start bool) {
	c.Lock()
	log := d.log.WithField("container", container.ShortID(c.ID))
	if c.State.Removing || c.State.Dead {
		c.Unlock()
		if err := d.removeContainer(c, true); err != nil {
			log.WithError(err).Warn("restore: finishing an interrupted removal")
		}
		return false
	}
	wasRunning := c.State.Running || c.State.Restarting
	if !c.State.Running {
		if c.State.Restarting {
			c.State.Restarting = false
			d.saveLocked(c)
		}
		c.Unlock()
		if c.HostConfig.AutoRemove && c.HasBeenStartedBefore {
			if err := d.removeContainer(c, true); err != nil {
				log.WithError(err).Warn("restore: removing an auto-remove container")
			}
			return false
		}
		return wasRunning && d.restartOnDaemonStart(c)
	}
	stateDir := d.rt.stateDir(c.ID)
	cl, err := shim.Connect(ctx, stateDir)
	if err == nil {
		st, serr := cl.State(ctx)
		if serr == nil && st.Status != "stopped" {
			if d.cfg.LiveRestore {
				// Adopt: count the mounts the running container holds.
				if rw, err := d.img.layers.GetRWLayer(c.ID); err == nil {
					rw.Mount()
				}
				c.State.Paused = st.Status == "paused"
				d.rt.mu.Lock()
				d.rt.shims[c.ID] = cl
				d.rt.mu.Unlock()
				c.Unlock()
				log.Info("live-restore: reconnected to running container")
				go d.monitor(c, cl)
				return false
			}
			log.Info("stopping container left running (live-restore is off)")
			cl.Kill(ctx, 9, true)
		}
		c.Unlock()
		exit, werr := cl.Wait(ctx)
		if werr != nil {
			exit = shim.Exit{Code: 255, At: time.Now().UTC()}
		}
		d.rt.mu.Lock()
		d.rt.shims[c.ID] = cl
		d.rt.mu.Unlock()
		d.handleExit(c, exit, false)
		return d.restartOnDaemonStart(c)
	}
	// The shim is gone: take the exit status it left, and clean up.
	exit, rerr := shim.ReadExit(stateDir)
	if rerr != nil {
		exit = shim.Exit{Code: 255, At: time.Now().UTC()}
		log.WithError(rerr).Warn("restore: the container's shim is gone and left no exit status")
	}
	if d.rt.shimErr != nil {
		log.WithError(d.rt.shimErr).Warn("restore: cannot clean up after a dead shim")
	} else if err := shim.Cleanup(ctx, d.rt.shimBinary, stateDir); err != nil {
		log.WithError(err).Warn("restore: cleaning up after a dead shim")
	}
	c.Unlock()
	d.handleExit(c, exit, false)
	return d.restartOnDaemonStart(c)
}

// restartOnDaemonStart is Docker's rule: always restarts even after a
// manual stop, unless-stopped only if not stopped by hand.
func (d *Daemon) restartOnDaemonStart(c *container.Container) bool {
	c.Lock()
	defer c.Unlock()
	p := c.HostConfig.RestartPolicy
	return p.Name == "always" || (p.Name == "unless-stopped" && !c.HasBeenManuallyStopped)
}

// shutdownContainers runs at a clean daemon stop: without live-restore every
// running container is stopped (its stop signal, then SIGKILL after its stop
// timeout); with it they are left to their shims.
func (d *Daemon) shutdownContainers() {
	if d.rt == nil {
		return
	}
	d.rt.mu.Lock()
	for id, t := range d.rt.restarts {
		t.Stop()
		delete(d.rt.restarts, id)
	}
	d.rt.mu.Unlock()
	if d.Config().LiveRestore {
		d.rt.mu.Lock()
		for _, cl := range d.rt.shims {
			cl.Close()
		}
		d.rt.mu.Unlock()
		return
	}
	var wg sync.WaitGroup
	for _, c := range d.rt.store.List() {
		c.Lock()
		running := c.State.Running
		c.Unlock()
		if !running {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.stopContainer(context.Background(), c, "", nil, false); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Warn("shutdown: stopping container")
			}
		}()
	}
	wg.Wait()
}

func (d *Daemon) saveLocked(c *container.Container) {
	if err := d.rt.store.Save(c); err != nil {
		d.log.WithError(err).WithField("container", c.ID).Error("saving container state")
	}
}

// logContainerEvent publishes a container event with Docker's attributes:
// the container's labels, its image and name, plus extra.
func (d *Daemon) logContainerEvent(c *container.Container, action eventtypes.Action, extra map[string]string) {
	attrs := make(map[string]string, len(c.Config.Labels)+2+len(extra))
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	attrs["image"] = c.Config.Image
	attrs["name"] = c.Name[1:]
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Log(eventtypes.ContainerEventType, action, c.ID, attrs)
}

// getContainer resolves a name, ID or ID prefix.
func (d *Daemon) getContainer(name string) (*container.Container, error) {
	c, err := d.rt.store.Get(name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func errNotRunning(c *container.Container) error {
	return fmt.Errorf("container %s is not running", c.ID)
}
