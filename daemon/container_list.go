package daemon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/container"
)

// Containers lists containers as `docker ps` asks: running ones unless
// all, filtered, newest first, at most limit.
func (d *Daemon) Containers(ctx context.Context, o containerrouter.ListOptions) ([]containertypes.Summary, error) {
	f := o.Filters
	if err := f.Validate("id", "name", "label", "status", "ancestor", "volume", "exited", "before", "since", "network", "health", "is-task", "expose", "publish", "label!"); err != nil {
		return nil, err
	}
	for _, s := range f.Get("status") {
		if !slices.Contains([]string{"created", "restarting", "running", "removing", "paused", "exited", "dead"}, s) {
			return nil, invalidf("invalid filter 'status=%s'", s)
		}
	}
	var exited []int
	for _, e := range f.Get("exited") {
		code, err := strconv.Atoi(e)
		if err != nil {
			return nil, invalidf("invalid filter 'exited=%s'", e)
		}
		exited = append(exited, code)
	}
	var ancestors map[string]bool
	if f.Has("ancestor") {
		ancestors = map[string]bool{}
		for _, a := range f.Get("ancestor") {
			if id, err := d.resolveImageID(a); err == nil {
				ancestors[id.String()] = true
			}
		}
	}
	var before, since time.Time
	for key, t := range map[string]*time.Time{"before": &before, "since": &since} {
		for _, ref := range f.Get(key) {
			c, err := d.getContainer(ref)
			if err != nil {
				return nil, err
			}
			*t = c.Created
		}
	}
	all := o.All || f.Has("status") || f.Has("exited") || o.Limit > 0
	out := []containertypes.Summary{}
	now := time.Now()
	for _, c := range d.rt.store.List() {
		c.Lock()
		s, ok := d.summary(c, now, o.Size, func(c *container.Container) bool {
			st := &c.State
			if !all && !st.Running && !st.Restarting {
				return false
			}
			if f.Has("id") && !slices.ContainsFunc(f.Get("id"), func(p string) bool { return strings.HasPrefix(c.ID, p) }) {
				return false
			}
			if !f.Match("name", c.Name) || !f.MatchKVList("label", c.Config.Labels) {
				return false
			}
			if f.Has("status") && !f.ExactMatch("status", string(st.Status())) {
				return false
			}
			if len(exited) > 0 && (st.Running || st.StartedAt.IsZero() || !slices.Contains(exited, st.ExitCode)) {
				return false
			}
			if ancestors != nil && !ancestors[c.ImageID] && !f.ExactMatch("ancestor", c.Config.Image) {
				return false
			}
			if f.Has("volume") && !slices.ContainsFunc(c.Mounts, func(m container.MountPoint) bool {
				return f.ExactMatch("volume", m.Name) || f.ExactMatch("volume", m.Destination) || (m.Name == "" && f.ExactMatch("volume", m.Source))
			}) {
				return false
			}
			if !before.IsZero() && !c.Created.Before(before) {
				return false
			}
			if !since.IsZero() && !c.Created.After(since) {
				return false
			}
			if f.Has("network") && !slices.ContainsFunc(f.Get("network"), d.connectedTo(c)) {
				return false
			}
			return true
		})
		c.Unlock()
		if !ok {
			continue
		}
		out = append(out, s)
		if o.Limit > 0 && len(out) == o.Limit {
			break
		}
	}
	return out, nil
}

// connectedTo returns the network filter's test for c, as Docker's: a value
// matches a network c is on (its endpoints while it runs, the network of
// its NetworkMode and those recorded by docker network connect) by name, or
// by a prefix of its ID. A recorded network removed since still matches the
// name it was recorded by. Caller holds c's lock.
func (d *Daemon) connectedTo(c *container.Container) func(value string) bool {
	type netRef struct{ name, id string }
	var nets []netRef
	if c.State.Running || c.State.Paused || c.State.Restarting {
		for _, ep := range d.net.Endpoints(c.ID) {
			nets = append(nets, netRef{ep.NetworkName, ep.NetworkID})
		}
	}
	refs := []string{networkNameOf(c.HostConfig.NetworkMode)}
	if c.NetworkingConfig != nil {
		for ref := range c.NetworkingConfig.EndpointsConfig {
			refs = append(refs, ref)
		}
	}
	for _, ref := range refs {
		if ref == "" {
			continue // container:<x> shares another's network
		}
		if n, err := d.net.Network(ref); err == nil {
			nets = append(nets, netRef{n.Name, n.ID})
		} else {
			nets = append(nets, netRef{name: ref})
		}
	}
	return func(value string) bool {
		return slices.ContainsFunc(nets, func(n netRef) bool {
			return n.name == value || (n.id != "" && strings.HasPrefix(n.id, value))
		})
	}
}

// commandLine is ps's COMMAND, as Docker writes it: arguments holding a
// space are single-quoted.
func commandLine(path string, args []string) string {
	out := path
	for _, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		out += " " + a
	}
	return out
}

func (d *Daemon) summary(c *container.Container, now time.Time, size bool, keep func(*container.Container) bool) (containertypes.Summary, bool) {
	if !keep(c) {
		return containertypes.Summary{}, false
	}
	s := containertypes.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.Config.Image,
		ImageID: c.ImageID,
		Command: commandLine(c.Path, c.Args),
		Created: c.Created.Unix(),
		Ports:   []containertypes.PortSummary{},
		Labels:  nonNilLabels(c.Config.Labels),
		State:   c.State.Status(),
		Status:  c.State.String(now),
		Mounts:  mountPoints(c),
		NetworkSettings: &containertypes.NetworkSettingsSummary{
			Networks: map[string]*network.EndpointSettings{},
		},
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.NetworkSettings.Networks, _, s.Ports = d.networkSettings(c)
	if size {
		s.SizeRw, s.SizeRootFs = d.containerSizes(c)
	}
	return s, true
}

func nonNilLabels(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

func mountPoints(c *container.Container) []containertypes.MountPoint {
	out := make([]containertypes.MountPoint, 0, len(c.Mounts))
	for _, m := range c.Mounts {
		out = append(out, containertypes.MountPoint{
			Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination,
			Driver: m.Driver, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation,
		})
	}
	return out
}

// containerSizes are the container's own changes and its whole filesystem.
func (d *Daemon) containerSizes(c *container.Container) (rw, rootfs int64) {
	l, err := d.layerOf(c)
	if err != nil {
		return 0, 0
	}
	rw, _ = l.Size()
	rootfs = rw
	if img, err := d.img.images.Get(imageIDOf(c)); err == nil {
		rootfs += img.Size
	}
	return rw, rootfs
}

// ContainerInspect is `docker inspect` of a container.
func (d *Daemon) ContainerInspect(ctx context.Context, name string, size bool) (*containertypes.InspectResponse, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	execIDs := d.execIDs(c.ID)
	c.Lock()
	defer c.Unlock()
	st := c.State
	hc := *c.HostConfig
	r := &containertypes.InspectResponse{
		ID:      c.ID,
		Created: c.Created.Format(time.RFC3339Nano),
		Path:    c.Path,
		Args:    c.Args,
		State: &containertypes.State{
			Status: st.Status(), Running: st.Running, Paused: st.Paused, Restarting: st.Restarting,
			OOMKilled: st.OOMKilled, Dead: st.Dead, Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: st.StartedAt.Format(time.RFC3339Nano), FinishedAt: st.FinishedAt.Format(time.RFC3339Nano),
		},
		Image:          c.ImageID,
		ResolvConfPath: c.ResolvConfPath,
		HostnamePath:   c.HostnamePath,
		HostsPath:      c.HostsPath,
		LogPath:        c.LogPath,
		Name:           c.Name,
		RestartCount:   c.RestartCount,
		Driver:         c.Driver,
		Platform:       "linux",
		ExecIDs:        execIDs,
		HostConfig:     &hc,
		GraphDriver:    &storage.DriverData{Name: c.Driver, Data: map[string]string{}},
		Mounts:         mountPoints(c),
		Config:         c.Config,
		NetworkSettings: &containertypes.NetworkSettings{
			Ports:    network.PortMap{},
			Networks: map[string]*network.EndpointSettings{},
		},
	}
	if st.Running {
		r.NetworkSettings.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", st.Pid)
	}
	r.NetworkSettings.Networks, r.NetworkSettings.Ports, _ = d.networkSettings(c)
	if size {
		rw, rootfs := d.containerSizes(c)
		r.SizeRw, r.SizeRootFs = &rw, &rootfs
	}
	return r, nil
}

// ContainersPrune removes stopped containers matching the filters (until,
// label).
func (d *Daemon) ContainersPrune(ctx context.Context, f filters.Args) (*containertypes.PruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	until, err := untilFilter(f)
	if err != nil {
		return nil, err
	}
	rep := &containertypes.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.rt.store.List() {
		c.Lock()
		keep := c.State.Running || c.State.Restarting || c.State.Removing || !f.MatchKVList("label", c.Config.Labels) ||
			(!until.IsZero() && !c.Created.Before(until))
		for _, nl := range f.Get("label!") {
			k, v, hasV := strings.Cut(nl, "=")
			if lv, ok := c.Config.Labels[k]; ok && (!hasV || lv == v) {
				keep = true
			}
		}
		c.Unlock()
		if keep {
			continue
		}
		rw, _ := d.containerSizes(c)
		if err := d.removeContainer(c, false); err != nil {
			d.log.WithError(err).WithField("container", c.ID).Warn("prune")
			continue
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		rep.SpaceReclaimed += uint64(rw)
	}
	return rep, nil
}
