package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/shim"
	"github.com/berth-engine/berth/container/spec"
	"github.com/berth-engine/berth/internal/procfs"
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
	// spawner keeps a shim started ahead of the next container start.
	spawner *shim.Spawner
	// boundingCaps is berthd's capability bounding set.
	boundingCaps []string
	// initVersions are the versions of the init binaries /info reported.
	initVersions initVersions
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
	// resolvers are the embedded DNS servers of running containers on
	// user networks, by ID (see container_network.go).
	resolvers map[string]io.Closer
	// shuttingDown is set (under mu) when berthd stops: exits are then
	// recorded without applying restart policies, which the next start
	// decides on.
	shuttingDown bool

	// exitMu is held for reading while an exit is recorded (handleExit);
	// the shutdown takes it for writing once the containers are stopped
	// and sets closed, so that the store is never closed under a
	// recording. Exits after that are left to the shims, which keep them
	// for the next start.
	exitMu sync.RWMutex
	closed bool
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
		resolvers:   map[string]io.Closer{},
	}
	caps, err := spec.BoundingSet()
	if err != nil {
		d.log.WithError(err).Warn("reading the capability bounding set")
	}
	rt.boundingCaps = caps
	for _, dir := range []string{rt.root, rt.execRoot, rt.runtimeRoot} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return err
		}
	}
	if shimErr == nil {
		rt.spawner = shim.NewSpawner(shimBin, rt.execRoot)
	}
	if rt.store, err = container.Open(rt.root); err != nil {
		if rt.spawner != nil {
			rt.spawner.Close()
		}
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
// without live-restore, their containers killed), containers whose shim is
// gone marked exited with the code it left, what a start interrupted by a
// crash left behind cleaned up, and containers whose restart policy says so
// started.
func (d *Daemon) restoreContainers(ctx context.Context) {
	var wg sync.WaitGroup
	var toStart []*container.Container
	var mu sync.Mutex
	containers := d.rt.store.List()
	for _, c := range containers {
		for _, name := range c.Volumes() {
			if err := d.volumes.Acquire(name, c.ID); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Warn("restore: volume missing")
			}
		}
	}
	// Before any exit found below releases a volume's mount, the
	// containers still running take theirs again, so that a mount they
	// share with a dead one stays.
	for _, c := range containers {
		d.readoptVolumeMounts(c)
	}
	for _, c := range containers {
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
	d.sweepOrphanLayers()
	d.reconcileNetwork(ctx)
	for _, c := range toStart {
		go func() {
			if err := d.containerStart(context.Background(), c); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Error("restart policy: start at daemon start failed")
			}
		}()
	}
}

// readoptVolumeMounts takes again, with live-restore, the volume mounts of a
// container whose process survived berthd: the local driver kept their
// filesystems mounted (volume/local.New) and counts this container's
// reference again without mounting, so that its exit, the last one's,
// unmounts them. A container that died meanwhile takes none: its exit
// recorded by restoreOne releases what it held.
func (d *Daemon) readoptVolumeMounts(c *container.Container) {
	c.Lock()
	defer c.Unlock()
	if !d.cfg.LiveRestore || !c.State.Running || !procfs.Alive(c.State.Pid) {
		return
	}
	for _, name := range c.Volumes() {
		if _, err := d.volumes.Mount(name, c.ID); err != nil {
			d.log.WithError(err).WithFields(logrus.Fields{"container": container.ShortID(c.ID), "volume": name}).Warn("live-restore: taking the volume's mount again")
		}
	}
}

// restoreOne reconciles one container; it reports whether the container
// should be started by its restart policy.
func (d *Daemon) restoreOne(ctx context.Context, c *container.Container) (start bool) {
	log := d.log.WithField("container", container.ShortID(c.ID))
	c.Lock()
	if c.State.Removing || c.State.Dead {
		pid := c.State.Pid
		c.Unlock()
		d.reapShim(ctx, c, pid)
		if err := d.removeContainer(c, true); err != nil {
			log.WithError(err).Warn("restore: finishing an interrupted removal")
		}
		return false
	}
	running, pid := c.State.Running, c.State.Pid
	wasRunning := running || c.State.Restarting
	if c.State.Restarting {
		c.State.Restarting = false
		d.saveLocked(c)
	}
	if running && d.cfg.LiveRestore {
		if cl, err := shim.Connect(ctx, d.rt.stateDir(c.ID)); err == nil {
			if st, err := cl.State(ctx); err == nil && st.Status != shim.StatusStopped {
				// Adopt: count the mount the running container holds.
				if rw, err := d.layerOf(c); err == nil {
					if _, err := rw.Mount(); err != nil {
						log.WithError(err).Warn("live-restore: adopting the container's layer mount")
					}
				}
				c.State.Paused = st.Status == shim.StatusPaused
				d.rt.mu.Lock()
				d.rt.shims[c.ID] = cl
				d.rt.mu.Unlock()
				d.restoreResolver(c, pid)
				c.Unlock()
				log.Info("live-restore: reconnected to running container")
				go d.monitor(c, cl)
				return false
			}
		}
	}
	c.Unlock()

	// Whatever still runs is killed (Docker's rule without live-restore),
	// and its exit recorded.
	if running && !d.cfg.LiveRestore {
		log.Info("stopping container left running (live-restore is off)")
	}
	exit, started, found := d.reapShim(ctx, c, pid)
	if running || started {
		// The layer is still mounted by the previous berthd: take that
		// mount over, so that handleExit releases it.
		if rw, err := d.layerOf(c); err == nil {
			if _, err := rw.Mount(); err != nil {
				log.WithError(err).Warn("restore: adopting the container's layer mount")
			}
		}
		d.handleExit(c, exit, false)
	} else if found {
		// A start interrupted before the program ran: only undo its mounts.
		c.Lock()
		if rw, err := d.layerOf(c); err == nil {
			if _, err := rw.Mount(); err == nil {
				rw.Unmount()
			}
		}
		d.unmountVolumes(c)
		c.Unlock()
		log.Info("restore: cleaned up a start interrupted by a crash")
	}

	if _, err := d.rt.store.Get(c.ID); err != nil {
		return false // handleExit auto-removed it
	}
	c.Lock()
	autoRemove := c.HostConfig.AutoRemove && c.HasBeenStartedBefore
	c.Unlock()
	if autoRemove {
		if err := d.removeContainer(c, true); err != nil {
			log.WithError(err).Warn("restore: removing an auto-remove container")
		}
		return false
	}
	return d.restartOnDaemonStart(c, wasRunning)
}

// reapShim ends what a previous berthd left in the container's state dir:
// a live shim is told to kill and delete its container, a dead one's
// remains are cleaned up. found says whether there was anything; started
// whether the container's program had run (it had not when berthd died
// between the shim's spawn and the start); exit is how it ended: the
// status the shim kept, else 137 when the container (recorded pid) was
// still there to be killed, else 255.
func (d *Daemon) reapShim(ctx context.Context, c *container.Container, pid int) (exit shim.Exit, started, found bool) {
	stateDir := d.rt.stateDir(c.ID)
	if _, err := os.Stat(stateDir); err != nil {
		// Nothing left (the exec root was wiped, as by a reboot): the
		// exit status is unknown.
		return shim.Exit{Code: 255, At: time.Now().UTC()}, false, false
	}
	log := d.log.WithField("container", container.ShortID(c.ID))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cl, err := shim.Connect(ctx, stateDir); err == nil {
		st, serr := cl.State(ctx)
		if serr == nil && st.Status != shim.StatusStopped {
			if err := cl.Kill(ctx, syscall.SIGKILL, true); err != nil {
				log.WithError(err).Warn("restore: killing a container left running")
			}
		}
		e, werr := cl.Wait(ctx)
		if werr == nil {
			if _, err := cl.Delete(ctx); err == nil {
				return e, serr == nil && st.Status != shim.StatusCreated, true
			}
		}
	}
	// The shim is gone (or did not finish): take the exit status it left,
	// and clean up.
	exit, err := shim.ReadExit(stateDir)
	started = err == nil
	if err != nil {
		exit.Code, exit.At = 255, time.Now().UTC()
		if pid > 0 && procfs.Alive(pid) {
			exit.Code, started = 137, true
		}
	}
	if d.rt.shimErr != nil {
		log.WithError(d.rt.shimErr).Warn("restore: cannot clean up after a dead shim")
	} else if err := shim.Cleanup(ctx, d.rt.shimBinary, stateDir); err != nil {
		log.WithError(err).Warn("restore: cleaning up after a dead shim")
	}
	return exit, started, true
}

// restartOnDaemonStart is Docker's rule for containers that ran before:
// always restarts even after a manual stop, unless-stopped unless stopped
// by hand, on-failure if it was running (or waiting to restart) when berthd
// went away, ended in failure and has retries left.
func (d *Daemon) restartOnDaemonStart(c *container.Container, wasRunning bool) bool {
	c.Lock()
	defer c.Unlock()
	if !c.HasBeenStartedBefore {
		return false
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !c.HasBeenManuallyStopped
	case "on-failure":
		if wasRunning && !c.HasBeenManuallyStopped && c.State.ExitCode != 0 &&
			(p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount) {
			c.RestartCount++
			d.saveLocked(c)
			return true
		}
	}
	return false
}

// shutdownContainers runs at a clean daemon stop: without live-restore every
// running container is stopped (its stop signal, then SIGKILL after its stop
// timeout); with it they are left to their shims.
func (d *Daemon) shutdownContainers() {
	if d.rt == nil {
		return
	}
	if d.rt.spawner != nil {
		d.rt.spawner.Close()
	}
	// Once the containers are stopped, no exit is being recorded while the
	// store closes.
	defer func() {
		d.rt.exitMu.Lock()
		d.rt.closed = true
		d.rt.exitMu.Unlock()
	}()
	d.rt.mu.Lock()
	d.rt.shuttingDown = true
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

// running counts the containers whose shims berthd holds.
func (rt *containerRuntime) running() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.shims)
}
