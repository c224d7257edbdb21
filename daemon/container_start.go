package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/go-archive"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/logger/jsonfile"
	"github.com/berth-engine/berth/container/shim"
	"github.com/berth-engine/berth/container/spec"
	"github.com/berth-engine/berth/internal/undo"
)

// ContainerStart starts a created or stopped container.
func (d *Daemon) ContainerStart(ctx context.Context, name string) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	d.resetRestartPolicy(c)
	return d.containerStartLocked(ctx, c)
}

// resetRestartPolicy clears what the restart policy counted, before a start
// by hand, as Docker does; the start saves it. Caller holds c's lock.
func (d *Daemon) resetRestartPolicy(c *container.Container) {
	if c.State.Running {
		return // the start is refused
	}
	c.HasBeenManuallyStopped = false
	c.RestartCount = 0
	d.rt.mu.Lock()
	delete(d.rt.backoff, c.ID)
	d.rt.mu.Unlock()
}

// containerStart runs the start sequence under the container's lock:
// mount the layer, mount the volumes, write the per-container files,
// generate the runtime spec, spawn the shim (the process is created but
// not yet running), connect it to its network (container_network.go),
// connect the attachers that were waiting, let the process run, record
// the state. Each step is undone on a later failure.
func (d *Daemon) containerStart(ctx context.Context, c *container.Container) error {
	c.Lock()
	defer c.Unlock()
	return d.containerStartLocked(ctx, c)
}

// containerStartLocked is containerStart with c's lock held.
func (d *Daemon) containerStartLocked(ctx context.Context, c *container.Container) (retErr error) {
	switch {
	case c.State.Paused:
		return conflictf("cannot start a paused container, try unpause instead")
	case c.State.Running:
		return cerrdefs.ErrNotModified.WithMessage("container already started")
	case c.State.Removing || c.State.Dead:
		return conflictf("container is marked for removal and cannot be started")
	}
	d.cancelRestart(c.ID)
	c.HasBeenManuallyRestarted = false
	log := d.log.WithField("container", container.ShortID(c.ID))
	defer func() {
		if retErr != nil {
			c.State.Error = retErr.Error()
			c.State.Restarting = false
			if c.State.ExitCode == 0 {
				c.State.ExitCode = exitCodeForStartError(retErr)
			}
			d.saveLocked(c)
			log.WithError(retErr).Info("container start failed")
			d.failAttachers(c, retErr)
			if c.HostConfig.AutoRemove {
				go func() {
					if err := d.removeContainer(c, true); err != nil {
						log.WithError(err).Warn("auto-remove after a failed start")
					}
				}()
			}
		}
	}()

	// Past the deferred clean-up: a `run --rm` that cannot start is
	// removed, or the docker CLI would wait for its removal forever.
	if d.rt.shimErr != nil {
		return d.rt.shimErr
	}
	begin := time.Now()
	var u undo.Stack
	defer u.Unwind(&retErr)
	defer d.rt.spawner.Refill()
	rw, err := d.layerOf(c)
	if err != nil {
		return err
	}
	rootfs, err := rw.Mount()
	if err != nil {
		return err
	}
	u.Push(func() { rw.Unmount() })

	mounts, err := d.mountVolumes(c, rootfs)
	u.Push(func() { d.unmountVolumes(c) })
	if err != nil {
		return err
	}
	if err := d.writeContainerFiles(c); err != nil {
		return err
	}
	mounts = append(mounts,
		specs.Mount{Source: c.HostnamePath, Destination: "/etc/hostname", Type: "bind", Options: []string{"rbind", "rprivate"}},
		specs.Mount{Source: c.HostsPath, Destination: "/etc/hosts", Type: "bind", Options: []string{"rbind", "rprivate"}},
		specs.Mount{Source: c.ResolvConfPath, Destination: "/etc/resolv.conf", Type: "bind", Options: []string{"rbind", "rprivate"}},
	)
	o := spec.Options{
		ID: c.ID, Config: c.Config, HostConfig: c.HostConfig, Rootfs: rootfs, Mounts: mounts,
		Hostname: c.Config.Hostname, CgroupParent: d.Config().CgroupParent,
		BoundingCaps: d.boundingCaps(),
	}
	if c.HostConfig.CgroupParent != "" {
		o.CgroupParent = c.HostConfig.CgroupParent
	}
	if spec.WantsInit(c.HostConfig, d.Config().Init) {
		if o.InitPath, err = d.initBinary(); err != nil {
			return err
		}
	}
	if err := d.joinNamespaces(c, &o); err != nil {
		return err
	}
	s, err := spec.Generate(o)
	if err != nil {
		return err
	}
	stateDir := d.rt.stateDir(c.ID)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	u.Push(func() { os.RemoveAll(stateDir) })
	buf, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stateDir, "config.json"), buf, 0o600); err != nil {
		return err
	}
	so := shim.Options{
		ID: c.ID, Bundle: stateDir, StateDir: stateDir, RuntimeRoot: d.rt.runtimeRoot,
		LogPath: c.LogPath, LogMaxFiles: 1,
		Terminal: c.Config.Tty, OpenStdin: c.Config.OpenStdin, StdinOnce: c.Config.StdinOnce,
	}
	if c.LogPath != "" {
		lo, err := jsonfile.ParseOptions(c.HostConfig.LogConfig.Config)
		if err != nil {
			return invalidf("%v", err)
		}
		so.LogMaxSize, so.LogMaxFiles = lo.MaxSize, max(lo.MaxFiles, 1)
	}
	tPrepared := time.Since(begin)
	cl, err := d.rt.spawner.Spawn(ctx, so)
	if err != nil {
		return startError(err)
	}
	tSpawned := time.Since(begin)
	u.Push(func() {
		cl.Kill(context.Background(), 9, true)
		cl.Wait(context.Background())
		cl.Delete(context.Background())
		cl.Close()
	})
	pid := cl.InitPid()
	if pid <= 0 {
		st, err := cl.State(ctx)
		if err != nil {
			return err
		}
		pid = st.Pid
	}
	disconnect, err := d.connectContainer(ctx, c, pid)
	if err != nil {
		return err
	}
	u.Push(disconnect)
	d.connectAttachers(ctx, c, cl)
	tAttached := time.Since(begin)
	if err := cl.Start(ctx); err != nil {
		return startError(err)
	}
	tRunning := time.Since(begin)
	d.rt.mu.Lock()
	d.rt.shims[c.ID] = cl
	d.rt.mu.Unlock()
	c.SetRunning(pid, time.Now().UTC()) // the init execs the program: same pid
	d.saveLocked(c)
	d.logContainerEvent(c, eventtypes.ActionStart, nil)
	go d.monitor(c, cl)
	log.WithFields(logrus.Fields{"prepared": tPrepared, "shim-spawned": tSpawned, "attached": tAttached, "running": tRunning, "total": time.Since(begin)}).Debug("container started")
	return nil
}

// runtimeSpec generates the runtime spec of an existing container with cfg
// and hc in place of its own (exec's process, update's resources): the
// user and groups resolve against its root filesystem, mounted meanwhile.
func (d *Daemon) runtimeSpec(c *container.Container, cfg *containertypes.Config, hc *containertypes.HostConfig) (*specs.Spec, error) {
	rw, err := d.layerOf(c)
	if err != nil {
		return nil, err
	}
	rootfs, err := rw.Mount()
	if err != nil {
		return nil, err
	}
	defer rw.Unmount()
	parent := hc.CgroupParent
	if parent == "" {
		parent = d.Config().CgroupParent
	}
	return spec.Generate(spec.Options{ID: c.ID, Config: cfg, HostConfig: hc, Rootfs: rootfs, CgroupParent: parent, BoundingCaps: d.boundingCaps()})
}

// startError classifies a runtime failure: a missing or unexecutable
// command is the user's (400, exit code 127/126), the rest is ours.
func startError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") ||
		strings.Contains(msg, "permission denied") || strings.Contains(msg, "not a directory") {
		return cerrdefs.ErrInvalidArgument.WithMessage("failed to create task for container: " + msg)
	}
	return fmt.Errorf("failed to create task for container: %w", err)
}

func exitCodeForStartError(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// joinNamespaces resolves container:<x> modes to the other container's
// namespace paths.
func (d *Daemon) joinNamespaces(c *container.Container, o *spec.Options) error {
	resolve := func(mode, kind string) (string, error) {
		ref, ok := strings.CutPrefix(mode, "container:")
		if !ok {
			return "", nil
		}
		other, err := d.getContainer(ref)
		if err != nil {
			return "", err
		}
		if other == c {
			return "", invalidf("cannot join own %s namespace", kind)
		}
		other.Lock()
		pid, running := other.State.Pid, other.State.Running
		other.Unlock()
		if !running {
			return "", conflictf("cannot join network of a non running container: %s", other.ID)
		}
		return fmt.Sprintf("/proc/%d/ns/%s", pid, kind), nil
	}
	var err error
	if o.NetNSPath, err = resolve(string(c.HostConfig.NetworkMode), "net"); err != nil {
		return err
	}
	if o.IPCNSPath, err = resolve(string(c.HostConfig.IpcMode), "ipc"); err != nil {
		return err
	}
	o.PIDNSPath, err = resolve(string(c.HostConfig.PidMode), "pid")
	return err
}

// boundingCaps are the capabilities berthd holds: containers get no more.
// They are read once, when the container runtime opens.
func (d *Daemon) boundingCaps() []string { return d.rt.boundingCaps }

// mountVolumes mounts each volume and returns the runtime mounts of every
// mount point; volumes are seeded from the image on first use.
func (d *Daemon) mountVolumes(c *container.Container, rootfs string) ([]specs.Mount, error) {
	var out []specs.Mount
	for i := range c.Mounts {
		m := &c.Mounts[i]
		opts := []string{"rbind"}
		if !m.RW {
			opts = append(opts, "ro")
		}
		switch m.Type {
		case mounttypes.TypeVolume:
			p, err := d.volumes.Mount(m.Name, c.ID)
			if err != nil {
				return out, err
			}
			m.Source = p
			if !m.NoCopy {
				if err := seedVolume(rootfs, m.Destination, p); err != nil {
					return out, fmt.Errorf("copying image content into volume %s: %w", m.Name, err)
				}
			}
			out = append(out, specs.Mount{Source: p, Destination: m.Destination, Type: "bind", Options: append(opts, "rprivate")})
		case mounttypes.TypeBind:
			prop := string(m.Propagation)
			if prop == "" {
				prop = "rprivate"
			}
			out = append(out, specs.Mount{Source: m.Source, Destination: m.Destination, Type: "bind", Options: append(opts, prop)})
		case mounttypes.TypeTmpfs:
			topts := []string{"nosuid", "nodev", "noexec"}
			if !m.RW {
				topts = append(topts, "ro")
			}
			if t := m.TmpfsOptions; t != nil {
				if t.SizeBytes > 0 {
					topts = append(topts, fmt.Sprintf("size=%d", t.SizeBytes))
				}
				if t.Mode != 0 {
					topts = append(topts, fmt.Sprintf("mode=%o", t.Mode))
				}
			}
			out = append(out, specs.Mount{Source: "tmpfs", Destination: m.Destination, Type: "tmpfs", Options: topts})
		}
	}
	return out, nil
}

// seedVolume copies the image's content at dest into an empty volume, as
// Docker does on a volume's first use.
func seedVolume(rootfs, dest, volPath string) error {
	entries, err := os.ReadDir(volPath)
	if err != nil || len(entries) > 0 {
		return err
	}
	src, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if content, err := os.ReadDir(src); err != nil || len(content) == 0 {
		return nil
	}
	if err := archive.NewDefaultArchiver().CopyWithTar(src, volPath); err != nil {
		return err
	}
	return os.Chmod(volPath, fi.Mode().Perm())
}

func (d *Daemon) unmountVolumes(c *container.Container) {
	for _, m := range c.Mounts {
		if m.Type == mounttypes.TypeVolume {
			if err := d.volumes.Unmount(m.Name, c.ID); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Debug("unmounting volume")
			}
		}
	}
}

// writeContainerFiles writes the hostname, hosts and resolv.conf files the
// container sees.
func (d *Daemon) writeContainerFiles(c *container.Container) error {
	hostname := c.Config.Hostname
	if c.Config.Domainname != "" {
		hostname += "." + c.Config.Domainname
	}
	if err := os.WriteFile(c.HostnamePath, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts strings.Builder
	if c.HostConfig.NetworkMode == "host" {
		b, _ := os.ReadFile("/etc/hosts")
		hosts.Write(b)
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, _ = strings.Cut(h, "=")
		}
		if ip == hostGateway {
			gw, err := d.hostGatewayIP()
			if err != nil {
				return err
			}
			ip = gw.String()
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	if err := os.WriteFile(c.HostsPath, []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(c.ResolvConfPath, resolvConf(c), 0o644)
}

// resolvConf is the host's resolv.conf without loopback nameservers (they
// are unreachable from a container's network namespace), or the --dns
// servers given.
func resolvConf(c *container.Container) []byte {
	var out strings.Builder
	host, _ := os.ReadFile("/etc/resolv.conf")
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(c.HostConfig.DNS) > 0 {
				continue
			}
			if c.HostConfig.NetworkMode != "host" && len(f) > 1 && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
				continue
			}
		case "search":
			if len(c.HostConfig.DNSSearch) > 0 {
				continue
			}
		case "options":
			if len(c.HostConfig.DNSOptions) > 0 {
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	for _, ns := range c.HostConfig.DNS {
		fmt.Fprintf(&out, "nameserver %s\n", ns)
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		fmt.Fprintf(&out, "search %s\n", strings.Join(c.HostConfig.DNSSearch, " "))
	}
	if len(c.HostConfig.DNSOptions) > 0 {
		fmt.Fprintf(&out, "options %s\n", strings.Join(c.HostConfig.DNSOptions, " "))
	}
	return []byte(out.String())
}

// monitor waits for the container's exit through its shim.
func (d *Daemon) monitor(c *container.Container, cl *shim.Client) {
	exit, err := cl.Wait(context.Background())
	if err != nil {
		// The shim went away without an answer (killed): take what it
		// left on disk.
		if e, rerr := shim.ReadExit(d.rt.stateDir(c.ID)); rerr == nil {
			exit = e
		} else {
			exit = shim.Exit{Code: 137, At: time.Now().UTC()}
		}
		d.log.WithError(err).WithField("container", container.ShortID(c.ID)).Warn("lost the container's shim")
	}
	d.handleExit(c, exit, true)
}

// handleExit records an exit: the shim is told to clean up and goes, the
// mounts are released, waiters are woken, and the restart policy or
// auto-remove is applied.
//
// While berthd shuts down, no restart policy applies (the next start
// decides); with live-restore, and once the store is closed, the exit is
// left to the shim, which keeps it for the next start.
func (d *Daemon) handleExit(c *container.Container, exit shim.Exit, applyPolicy bool) {
	liveRestore := d.Config().LiveRestore
	d.rt.exitMu.RLock()
	defer d.rt.exitMu.RUnlock()
	d.rt.mu.Lock()
	shuttingDown := d.rt.shuttingDown
	if d.rt.closed || (shuttingDown && liveRestore) {
		d.rt.mu.Unlock()
		return
	}
	cl := d.rt.shims[c.ID]
	delete(d.rt.shims, c.ID)
	d.rt.mu.Unlock()
	applyPolicy = applyPolicy && !shuttingDown
	begin := time.Now()
	if cl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := cl.Delete(ctx); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("deleting the container's runtime state")
			if err := shim.Cleanup(ctx, d.rt.shimBinary, d.rt.stateDir(c.ID)); err != nil {
				d.log.WithError(err).WithField("container", c.ID).Warn("cleaning up the container's runtime state")
			}
		}
		cancel()
		cl.Close()
	}
	d.endExecs(c.ID)
	d.disconnectContainer(c.ID)
	tDelete := time.Since(begin)

	c.Lock()
	if rw, err := d.layerOf(c); err == nil {
		if err := rw.Unmount(); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("unmounting the container's layer")
		}
	}
	d.unmountVolumes(c)
	if exit.At.IsZero() {
		exit.At = time.Now().UTC()
	}
	ranFor := exit.At.Sub(c.State.StartedAt)
	c.SetStopped(exit.Code, exit.OOMKilled, exit.At, "")
	if exit.OOMKilled {
		d.logContainerEvent(c, eventtypes.ActionOOM, nil)
	}
	d.logContainerEvent(c, eventtypes.ActionDie, map[string]string{"exitCode": fmt.Sprint(exit.Code)})
	restart := applyPolicy && d.shouldRestart(c, exit.Code)
	if restart {
		c.SetRestarting(exit.Code, exit.At)
		d.scheduleRestart(c, ranFor)
	}
	autoRemove := c.HostConfig.AutoRemove && !restart && !c.HasBeenManuallyRestarted && !c.RemovalClaimed()
	if autoRemove {
		// The removal's commit is the only one on `run --rm`'s path: after
		// a crash before it, the next start finds the container stopped
		// (or its shim gone) and removes it, as an auto-remove container
		// that has run (restoreOne).
		c.State.Removing = true
	} else {
		d.saveLocked(c)
	}
	c.Unlock()
	tRecorded := time.Since(begin)
	if autoRemove {
		if err := d.removeContainer(c, true); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("auto-remove")
		}
	}
	d.log.WithFields(logrus.Fields{
		"container": container.ShortID(c.ID), "exit-code": exit.Code,
		"shim-delete": tDelete, "recorded": tRecorded, "total": time.Since(begin),
	}).Debug("container exit handled")
}

// shouldRestart is the restart policy's decision after an exit.
func (d *Daemon) shouldRestart(c *container.Container, code int) bool {
	if c.HasBeenManuallyStopped || c.State.Removing {
		return false
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// restartBackoff is Docker's: 100 ms doubling up to a minute, reset once a
// run lasted 10 s.
type restartBackoff struct{ delay time.Duration }

func (d *Daemon) scheduleRestart(c *container.Container, ranFor time.Duration) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	b := d.rt.backoff[c.ID]
	if b == nil || ranFor >= 10*time.Second {
		b = &restartBackoff{delay: 100 * time.Millisecond}
		d.rt.backoff[c.ID] = b
	} else {
		b.delay = min(2*b.delay, time.Minute)
	}
	delay := b.delay
	d.rt.restarts[c.ID] = time.AfterFunc(delay, func() {
		d.rt.mu.Lock()
		delete(d.rt.restarts, c.ID)
		shuttingDown := d.rt.shuttingDown
		d.rt.mu.Unlock()
		// The start runs under the lock that a stop or a removal takes to
		// cancel it, so that neither can slip in between.
		c.Lock()
		defer c.Unlock()
		if !c.State.Restarting || shuttingDown {
			return
		}
		c.RestartCount++
		c.State.Restarting = false
		if err := d.containerStartLocked(context.Background(), c); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("restart policy: start failed")
			return
		}
		d.logContainerEvent(c, eventtypes.ActionRestart, nil)
	})
}

// cancelRestart stops a pending policy restart.
func (d *Daemon) cancelRestart(id string) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	if t := d.rt.restarts[id]; t != nil {
		t.Stop()
		delete(d.rt.restarts, id)
	}
}

var errNoShim = errors.New("container has no runtime")
