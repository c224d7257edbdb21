package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/logger/jsonfile"
	"github.com/berth-engine/berth/container/spec"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/layer"
	"github.com/berth-engine/berth/internal/undo"
	"github.com/berth-engine/berth/volume/store"
)

const defaultShmSize = 64 << 20

func invalidf(format string, args ...any) error {
	return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

func conflictf(format string, args ...any) error {
	return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf(format, args...))
}

// ContainerCreate creates a container: its name, its read-write layer on
// the image, and its volumes (through the quota); on any failure all of it
// is undone, so a refused create leaves nothing behind.
func (d *Daemon) ContainerCreate(ctx context.Context, cc containerrouter.CreateConfig) (_ containertypes.CreateResponse, retErr error) {
	if cc.Config == nil {
		return containertypes.CreateResponse{}, invalidf("config cannot be empty in order to create a container")
	}
	cfg := *cc.Config
	hc := containertypes.HostConfig{}
	if cc.HostConfig != nil {
		hc = *cc.HostConfig
	}
	if cfg.Image == "" {
		return containertypes.CreateResponse{}, invalidf("no image specified")
	}
	img, err := d.resolveImage(cfg.Image)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	if cc.Platform != nil && cc.Platform.OS != "" && cc.Platform.OS != img.OS {
		return containertypes.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("image with reference %s was found but does not provide the specified platform (%s)", cfg.Image, cc.Platform.OS))
	}
	mergeImageConfig(&cfg, img)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return containertypes.CreateResponse{}, invalidf("no command specified")
	}
	if err := d.applyHostConfigDefaults(&hc); err != nil {
		return containertypes.CreateResponse{}, err
	}
	warnings, err := spec.DiscardUnsupported(&hc.Resources)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}

	id := container.NewID()
	if cfg.Hostname == "" {
		cfg.Hostname = container.ShortID(id)
	}
	var name string
	if cc.Name != "" {
		name = "/" + strings.TrimPrefix(cc.Name, "/")
		if !container.ValidName.MatchString(name[1:]) {
			return containertypes.CreateResponse{}, invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", cc.Name)
		}
		if err := d.rt.store.ReserveName(name, id); err != nil {
			return containertypes.CreateResponse{}, err
		}
	} else {
		name = d.rt.store.GenerateName(id)
	}
	c := &container.Container{
		ID: id, Name: name, Created: time.Now().UTC(),
		Config: &cfg, HostConfig: &hc, ImageID: img.ID.String(), Driver: d.img.driver.String(),
	}
	c.Path, c.Args = cmdOf(&cfg)
	if cc.NetworkingConfig != nil && len(cc.NetworkingConfig.EndpointsConfig) > 0 {
		c.NetworkingConfig = cc.NetworkingConfig
	}
	dir := filepath.Join(d.rt.root, id)
	c.HostnamePath = filepath.Join(dir, "hostname")
	c.HostsPath = filepath.Join(dir, "hosts")
	c.ResolvConfPath = filepath.Join(dir, "resolv.conf")
	if hc.LogConfig.Type == "json-file" {
		c.LogPath = filepath.Join(dir, id+"-json.log")
	}

	// From here on a failure (or a panic) leaves nothing behind.
	var u undo.Stack
	defer u.Unwind(&retErr)
	defer func() {
		if retErr != nil {
			d.log.WithError(retErr).WithField("container", container.ShortID(id)).Info("container create refused")
		}
	}()
	u.Push(func() { d.rt.store.ReleaseName(name, id) })
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return containertypes.CreateResponse{}, fmt.Errorf("creating container directory: %w", err)
	}
	u.Push(func() { os.RemoveAll(dir) })

	mounts, err := d.parseMounts(c)
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	created, err := d.createVolumes(ctx, c, mounts)
	u.Push(func() { d.releaseVolumes(ctx, c.ID, mounts, created) })
	if err != nil {
		return containertypes.CreateResponse{}, err
	}
	c.Mounts = mounts

	rw, err := d.img.layers.CreateRWLayer(id, img.ChainID, layer.RWLayerOptions{Init: initLayer, Ephemeral: hc.AutoRemove})
	if err != nil {
		return containertypes.CreateResponse{}, fmt.Errorf("creating the container's layer: %w", err)
	}
	u.Push(func() { d.img.layers.ReleaseRWLayer(rw) })

	if err := d.rt.store.Add(c); err != nil {
		return containertypes.CreateResponse{}, err
	}
	d.logContainerEvent(c, eventtypes.ActionCreate, nil)
	if warnings == nil {
		warnings = []string{}
	}
	return containertypes.CreateResponse{ID: id, Warnings: warnings}, nil
}

// cmdOf is the process a container runs: entrypoint then cmd.
func cmdOf(cfg *containertypes.Config) (string, []string) {
	argv := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(argv) == 0 {
		return "", []string{}
	}
	return argv[0], argv[1:]
}

// mergeImageConfig fills what the user left unset from the image's config,
// with Docker's rules (an entrypoint given without a cmd drops the image's
// cmd; environment and labels merge by key).
func mergeImageConfig(cfg *containertypes.Config, img *image.Image) {
	ic := img.Config
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if len(cfg.Cmd) == 0 && len(cfg.Entrypoint) == 0 {
		cfg.Cmd = slices.Clone(ic.Cmd)
	}
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = slices.Clone(ic.Entrypoint)
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	env := slices.Clone(ic.Env)
	for _, e := range cfg.Env {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(x string) bool { ek, _, _ := strings.Cut(x, "="); return ek == k })
		env = append(env, e)
	}
	cfg.Env = env
	if len(ic.Labels) > 0 {
		labels := make(map[string]string, len(ic.Labels)+len(cfg.Labels))
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	for v := range ic.Volumes {
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		cfg.Volumes[v] = struct{}{}
	}
	for p := range ic.ExposedPorts {
		port, err := network.ParsePort(p)
		if err != nil {
			continue
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	if cfg.Healthcheck == nil && ic.Healthcheck != nil {
		hc := *ic.Healthcheck
		cfg.Healthcheck = &hc
	}
}

// applyHostConfigDefaults fills what Docker fills at create and validates
// the options that would otherwise only fail at start.
func (d *Daemon) applyHostConfigDefaults(hc *containertypes.HostConfig) error {
	dc := d.Config()
	if hc.NetworkMode == "" || hc.NetworkMode == "default" || hc.NetworkMode == "bridge" {
		hc.NetworkMode = d.defaultNetworkMode()
	}
	if hc.CgroupnsMode == "" {
		hc.CgroupnsMode = spec.DefaultCgroupnsMode()
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = defaultShmSize
	} else if hc.ShmSize < 0 {
		return invalidf("SHM size can not be less than 0")
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = dc.LogDriver
		if len(hc.LogConfig.Config) == 0 && len(dc.LogOpts) > 0 {
			hc.LogConfig.Config = dc.LogOpts
		}
	}
	switch hc.LogConfig.Type {
	case "json-file":
		if _, err := jsonfile.ParseOptions(hc.LogConfig.Config); err != nil {
			return invalidf("%v", err)
		}
	case "none":
	default:
		return invalidf("logger: no log driver named '%s' is registered", hc.LogConfig.Type)
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
	p := &hc.RestartPolicy
	if p.Name == "" {
		p.Name = "no"
	}
	switch p.Name {
	case "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return invalidf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return invalidf("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return invalidf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", p.Name)
	}
	if hc.AutoRemove && p.Name != "no" {
		return invalidf("can't create 'AutoRemove' container with restart policy")
	}
	if spec.WantsInit(hc, dc.Init) {
		// Refused now rather than at start, which would leave a container
		// that cannot run.
		if _, err := d.initBinary(); err != nil {
			return err
		}
	}
	if hc.OomScoreAdj < 0 {
		return invalidf("invalid oom-score-adj %d: a negative score needs CAP_SYS_RESOURCE, which berthd does not hold", hc.OomScoreAdj)
	}
	if hc.Memory != 0 && hc.Memory < 6*1024*1024 {
		return invalidf("Minimum memory limit allowed is 6MB")
	}
	if hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory {
		return invalidf("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if hc.NanoCPUs < 0 {
		return invalidf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", numCPU(), numCPU())
	}
	if hc.NanoCPUs > int64(numCPU())*1e9 {
		return invalidf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", numCPU(), numCPU())
	}
	if hc.PidsLimit != nil && *hc.PidsLimit <= 0 {
		hc.PidsLimit = nil // 0 and -1 mean unlimited
	}
	switch hc.NetworkMode {
	case "bridge", "none", "host":
	default:
		if !strings.HasPrefix(string(hc.NetworkMode), "container:") {
			if err := d.checkUserNetwork(string(hc.NetworkMode)); err != nil {
				return err
			}
		}
	}
	return nil
}

// initLayer writes the per-container placeholders Docker's init layer has,
// so a container's changes do not list them. root is the init layer
// mounted over the image, whose paths may be symlinks chosen by the image's
// author (/etc -> /root/.ssh): as Docker does, every component of each
// placeholder's path is unlinked first (a symlink goes, the image's file at
// the path goes, a directory stays), so that nothing below follows a
// symlink out of the layer.
func initLayer(root string) error {
	for _, e := range []struct {
		path string
		kind byte // 'd' directory, 'f' empty file, 'l' symlink to target
		to   string
	}{
		{"dev/pts", 'd', ""}, {"dev/shm", 'd', ""}, {"proc", 'd', ""}, {"sys", 'd', ""},
		{"etc/resolv.conf", 'f', ""}, {"etc/hosts", 'f', ""}, {"etc/hostname", 'f', ""},
		{"dev/console", 'f', ""}, {"etc/mtab", 'l', "/proc/mounts"},
	} {
		prev := root
		for _, part := range strings.Split(e.path, "/") {
			prev = filepath.Join(prev, part)
			if err := unix.Unlink(prev); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("init layer: %s: %w", e.path, err)
			}
		}
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("init layer: %w", err)
		}
		var err error
		switch e.kind {
		case 'd':
			err = os.MkdirAll(p, 0o755)
		case 'f':
			var fd int
			fd, err = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o755)
			if err == nil {
				unix.Close(fd)
			}
		case 'l':
			err = os.Symlink(e.to, p)
		}
		// Something the unlink left (the image has a directory there):
		// kept, as Docker keeps it.
		if err != nil && !(e.kind != 'd' && errors.Is(err, fs.ErrExist)) {
			return fmt.Errorf("init layer: %s: %w", e.path, err)
		}
	}
	return nil
}

// parseMounts turns Binds, Mounts, VolumesFrom and Config.Volumes into the
// container's mount points, with Docker's validation and messages.
func (d *Daemon) parseMounts(c *container.Container) ([]container.MountPoint, error) {
	var out []container.MountPoint
	seen := map[string]bool{}
	add := func(m container.MountPoint) error {
		m.Destination = path.Clean(m.Destination)
		if seen[m.Destination] {
			return invalidf("Duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
		out = append(out, m)
		return nil
	}
	for _, spec := range c.HostConfig.Binds {
		m, err := parseBind(spec)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, mm := range c.HostConfig.Mounts {
		m, err := parseMountSpec(mm)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, from := range c.HostConfig.VolumesFrom {
		ref, mode, _ := strings.Cut(from, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, invalidf("invalid mode for volumes-from: %s", mode)
		}
		src, err := d.getContainer(ref)
		if err != nil {
			return nil, err
		}
		src.Lock()
		srcMounts := slices.Clone(src.Mounts)
		src.Unlock()
		for _, m := range srcMounts {
			if seen[m.Destination] {
				continue
			}
			m.Anonymous = false // owned by the source container
			if mode != "" {
				m.RW = mode == "rw"
				m.Mode = mode
			}
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	for dest := range c.Config.Volumes {
		if seen[path.Clean(dest)] {
			continue
		}
		if !path.IsAbs(dest) {
			return nil, invalidf("invalid volume specification: '%s': mount path must be absolute", dest)
		}
		if err := add(container.MountPoint{Type: mounttypes.TypeVolume, Destination: dest, Driver: store.DefaultDriver, RW: true, Anonymous: true}); err != nil {
			return nil, err
		}
	}
	for dest := range c.HostConfig.Tmpfs {
		if seen[path.Clean(dest)] {
			return nil, invalidf("Duplicate mount point: %s", dest)
		}
	}
	slices.SortFunc(out, func(a, b container.MountPoint) int { return strings.Compare(a.Destination, b.Destination) })
	return out, nil
}

// parseBind parses a -v spec: [source:]destination[:options].
func parseBind(spec string) (container.MountPoint, error) {
	bad := func(why string) (container.MountPoint, error) {
		return container.MountPoint{}, invalidf("invalid volume specification: '%s'%s", spec, why)
	}
	parts := strings.Split(spec, ":")
	var src, dst, mode string
	switch len(parts) {
	case 1:
		dst = parts[0]
	case 2:
		if path.IsAbs(parts[1]) {
			src, dst = parts[0], parts[1]
		} else {
			dst, mode = parts[0], parts[1]
		}
	case 3:
		src, dst, mode = parts[0], parts[1], parts[2]
	default:
		return bad("")
	}
	if dst == "" || !path.IsAbs(dst) {
		return bad(": invalid mount config for type \"volume\": invalid mount path: '" + dst + "' mount path must be absolute")
	}
	if path.Clean(dst) == "/" {
		return bad(": invalid mount config for type \"bind\": invalid specification: destination can't be '/'")
	}
	m := container.MountPoint{Destination: dst, RW: true, Mode: mode}
	for _, o := range strings.Split(mode, ",") {
		switch o {
		case "", "z", "Z":
		case "ro":
			m.RW = false
		case "rw":
		case "nocopy":
			m.NoCopy = true
		case "shared", "rshared", "slave", "rslave", "private", "rprivate":
			m.Propagation = mounttypes.Propagation(o)
		default:
			return bad("")
		}
	}
	switch {
	case src == "":
		m.Type, m.Anonymous, m.Driver = mounttypes.TypeVolume, true, store.DefaultDriver
	case path.IsAbs(src):
		m.Type, m.Source = mounttypes.TypeBind, path.Clean(src)
		if m.Propagation == "" {
			m.Propagation = mounttypes.PropagationRPrivate
		}
	default:
		m.Type, m.Name, m.Driver = mounttypes.TypeVolume, src, store.DefaultDriver
	}
	if m.NoCopy && m.Type == mounttypes.TypeBind {
		return bad("")
	}
	return m, nil
}

// parseMountSpec validates a --mount.
func parseMountSpec(mm mounttypes.Mount) (container.MountPoint, error) {
	bad := func(format string, args ...any) (container.MountPoint, error) {
		return container.MountPoint{}, invalidf("invalid mount config for type %q: %s", mm.Type, fmt.Sprintf(format, args...))
	}
	if mm.Target == "" {
		return bad("field Target must not be empty")
	}
	if !path.IsAbs(mm.Target) {
		return bad("invalid mount path: '%s' mount path must be absolute", mm.Target)
	}
	m := container.MountPoint{Type: mm.Type, Destination: mm.Target, RW: !mm.ReadOnly}
	switch mm.Type {
	case mounttypes.TypeBind:
		if mm.Source == "" {
			return bad("field Source must not be empty")
		}
		if !path.IsAbs(mm.Source) {
			return bad("invalid mount path: '%s' mount path must be absolute", mm.Source)
		}
		if _, err := os.Stat(mm.Source); err != nil {
			if mm.BindOptions == nil || !mm.BindOptions.CreateMountpoint {
				return bad("bind source path does not exist: %s", mm.Source)
			}
		}
		if mm.VolumeOptions != nil || mm.TmpfsOptions != nil {
			return bad("field VolumeOptions must not be specified")
		}
		m.Source = path.Clean(mm.Source)
		m.Propagation = mounttypes.PropagationRPrivate
		if mm.BindOptions != nil && mm.BindOptions.Propagation != "" {
			m.Propagation = mm.BindOptions.Propagation
		}
	case mounttypes.TypeVolume:
		if mm.BindOptions != nil || mm.TmpfsOptions != nil {
			return bad("field BindOptions must not be specified")
		}
		m.Name, m.Driver = mm.Source, store.DefaultDriver
		m.Anonymous = mm.Source == ""
		if o := mm.VolumeOptions; o != nil {
			m.NoCopy = o.NoCopy
			if o.DriverConfig != nil && o.DriverConfig.Name != "" {
				m.Driver = o.DriverConfig.Name
			}
		}
	case mounttypes.TypeTmpfs:
		if mm.Source != "" {
			return bad("field Source must not be specified")
		}
		m.TmpfsOptions = mm.TmpfsOptions
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mounttypes.TmpfsOptions{}
		}
	default:
		return container.MountPoint{}, invalidf("mount type unknown: %q", mm.Type)
	}
	return m, nil
}

// createVolumes creates or references the volumes the mounts name, through
// the VolumeStore and so through the quota. It returns the names it created
// (to undo) and, for an error, leaves the references it took to the undo.
func (d *Daemon) createVolumes(ctx context.Context, c *container.Container, mounts []container.MountPoint) ([]string, error) {
	var created []string
	for i := range mounts {
		m := &mounts[i]
		switch m.Type {
		case mounttypes.TypeBind:
			if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
				// -v creates a missing host directory, as Docker does.
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return created, fmt.Errorf("creating bind source %s: %w", m.Source, err)
				}
			}
			continue
		case mounttypes.TypeVolume:
		default:
			continue
		}
		existed := false
		if m.Name != "" {
			_, err := d.volumes.Get(ctx, m.Name)
			existed = err == nil
		}
		var labels map[string]string
		for _, mm := range c.HostConfig.Mounts {
			if mm.Target == m.Destination && mm.VolumeOptions != nil {
				labels = mm.VolumeOptions.Labels
			}
		}
		v, err := d.volumes.Create(ctx, store.CreateOptions{Name: m.Name, Driver: m.Driver, Labels: labels, Ref: c.ID})
		if err != nil {
			return created, err
		}
		if !existed {
			created = append(created, v.Name)
		}
		m.Name, m.Driver, m.Source = v.Name, v.Driver, v.Mountpoint
	}
	return created, nil
}

// releaseVolumes drops the container's references and removes the volumes
// listed in remove.
func (d *Daemon) releaseVolumes(ctx context.Context, id string, mounts []container.MountPoint, remove []string) {
	for _, m := range mounts {
		if m.Type == mounttypes.TypeVolume && m.Name != "" {
			d.volumes.Release(m.Name, id)
		}
	}
	for _, name := range remove {
		if err := d.volumes.Remove(ctx, name, false); err != nil && !errors.Is(err, store.ErrNoSuchVolume) {
			d.log.WithError(err).WithField("volume", name).Warn("removing a container's volume")
		}
	}
}

// layerOf returns the container's read-write layer.
func (d *Daemon) layerOf(c *container.Container) (layer.RWLayer, error) {
	return d.img.layers.GetRWLayer(c.ID)
}

// numCPU is the number of CPUs containers may use.
func numCPU() int { return runtime.NumCPU() }

func imageIDOf(c *container.Container) image.ID { return image.ID(c.ImageID) }
