package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	distref "github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/layer"
	"github.com/berth-engine/berth/image/tarexport"
)

// ContainerChanges lists what the container changed in its filesystem.
func (d *Daemon) ContainerChanges(ctx context.Context, name string) ([]containertypes.FilesystemChange, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	rw, err := d.layerOf(c)
	if err != nil {
		return nil, err
	}
	changes, err := rw.Changes()
	if err != nil {
		return nil, err
	}
	out := make([]containertypes.FilesystemChange, 0, len(changes))
	for _, ch := range changes {
		out = append(out, containertypes.FilesystemChange{Path: ch.Path, Kind: containertypes.ChangeType(ch.Kind)})
	}
	return out, nil
}

// ContainerExport writes the container's whole filesystem as a tar.
func (d *Daemon) ContainerExport(ctx context.Context, name string, out io.Writer) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	rw, err := d.layerOf(c)
	if err != nil {
		return err
	}
	rootfs, err := rw.Mount()
	if err != nil {
		return err
	}
	defer rw.Unmount()
	tr, err := archive.TarWithOptions(rootfs, &archive.TarOptions{})
	if err != nil {
		return err
	}
	defer tr.Close()
	if _, err := io.Copy(out, tr); err != nil {
		return err
	}
	d.logContainerEvent(c, eventtypes.ActionExport, nil)
	return nil
}

// containerFS gives the host path of a path in the container, following
// symlinks inside the container's root and crossing into its mounts, with
// the container's filesystem mounted until release.
type containerFS struct {
	rootfs string
	mounts []container.MountPoint
	rw     layer.RWLayer
}

func (d *Daemon) openContainerFS(c *container.Container) (*containerFS, error) {
	rw, err := d.layerOf(c)
	if err != nil {
		return nil, err
	}
	rootfs, err := rw.Mount()
	if err != nil {
		return nil, err
	}
	c.Lock()
	mounts := append([]container.MountPoint(nil), c.Mounts...)
	// The files berthd bind-mounts at start are what the container sees
	// there (docker cp of /etc/hostname gives the hostname).
	for dst, src := range map[string]string{"/etc/hostname": c.HostnamePath, "/etc/hosts": c.HostsPath, "/etc/resolv.conf": c.ResolvConfPath} {
		if _, err := os.Stat(src); src == "" || err != nil || slices.ContainsFunc(mounts, func(m container.MountPoint) bool { return m.Destination == dst }) {
			continue
		}
		mounts = append(mounts, container.MountPoint{Type: mounttypes.TypeBind, Source: src, Destination: dst, RW: true})
	}
	c.Unlock()
	for i, m := range mounts {
		if m.Type == mounttypes.TypeVolume && m.Source == "" {
			if v, err := d.volumes.Get(context.Background(), m.Name); err == nil {
				mounts[i].Source = v.Mountpoint
			}
		}
	}
	return &containerFS{rootfs: rootfs, mounts: mounts, rw: rw}, nil
}

func (fs *containerFS) release() { fs.rw.Unmount() }

// resolve maps a container path to a host path, and reports whether it is
// on a read-only mount.
func (fs *containerFS) resolve(p string) (string, bool, error) {
	p = path.Clean("/" + p)
	// The deepest mount containing p wins.
	var best *container.MountPoint
	for i := range fs.mounts {
		m := &fs.mounts[i]
		if m.Type == mounttypes.TypeTmpfs || m.Source == "" {
			continue
		}
		if p == m.Destination || strings.HasPrefix(p, strings.TrimSuffix(m.Destination, "/")+"/") {
			if best == nil || len(m.Destination) > len(best.Destination) {
				best = m
			}
		}
	}
	if best != nil {
		rel := strings.TrimPrefix(p, best.Destination)
		host, err := securejoin.SecureJoin(best.Source, rel)
		return host, !best.RW, err
	}
	host, err := securejoin.SecureJoin(fs.rootfs, p)
	return host, false, err
}

// ContainerStatPath is HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, name, p string) (*containertypes.PathStat, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	fs, err := d.openContainerFS(c)
	if err != nil {
		return nil, err
	}
	defer fs.release()
	return fs.stat(name, p)
}

// stat stats p in the container named name (as the client gave it, for
// Docker's message).
func (fs *containerFS) stat(name, p string) (*containertypes.PathStat, error) {
	// The path itself is not followed if it is a symlink: docker cp
	// reports the link.
	dir, base := path.Split(path.Clean("/" + p))
	hostDir, _, err := fs.resolve(dir)
	if err != nil {
		return nil, err
	}
	host := filepath.Join(hostDir, base)
	for _, m := range fs.mounts {
		if m.Destination == path.Clean("/"+p) && m.Source != "" && m.Type != mounttypes.TypeTmpfs {
			host = m.Source // a mount point is its mount's root
		}
	}
	fi, err := os.Lstat(host)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", p, name))
		}
		return nil, err
	}
	st := &containertypes.PathStat{Name: base, Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if base == "" {
		st.Name = "/"
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, _ := os.Readlink(host)
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		st.LinkTarget = target
	}
	return st, nil
}

// ContainerArchivePath is GET /containers/{id}/archive: a tar of the path,
// its entries named from the path's base, as docker cp expects.
func (d *Daemon) ContainerArchivePath(ctx context.Context, name, p string) (io.ReadCloser, *containertypes.PathStat, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, nil, err
	}
	fs, err := d.openContainerFS(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := fs.stat(name, p)
	if err != nil {
		fs.release()
		return nil, nil, err
	}
	host, _, err := fs.resolve(p)
	if err != nil {
		fs.release()
		return nil, nil, err
	}
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
		if fi, err := os.Stat(host); err == nil && !fi.IsDir() {
			fs.release()
			return nil, nil, invalidf("not a directory: %s", p)
		}
	}
	srcDir, srcBase := filepath.Split(host)
	if st.Name == "/" {
		srcDir, srcBase = host, "."
	}
	opts := &archive.TarOptions{IncludeFiles: []string{srcBase}}
	rebase := st.Name
	if strings.HasSuffix(p, "/.") {
		rebase = "."
	}
	if srcBase != "." && rebase != srcBase {
		opts.RebaseNames = map[string]string{srcBase: rebase}
	}
	tr, err := archive.TarWithOptions(srcDir, opts)
	if err != nil {
		fs.release()
		return nil, nil, err
	}
	d.logContainerEvent(c, eventtypes.ActionArchivePath, map[string]string{"path": p})
	return &releasingReader{ReadCloser: tr, release: fs.release}, st, nil
}

// ContainerExtractToDir is PUT /containers/{id}/archive: a tar extracted
// into a directory of the container.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, name, p string, o containerrouter.ExtractOptions, content io.Reader) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	c.Lock()
	readonly := c.HostConfig.ReadonlyRootfs
	c.Unlock()
	fs, err := d.openContainerFS(c)
	if err != nil {
		return err
	}
	defer fs.release()
	host, ro, err := fs.resolve(p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(host)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", p, name))
		}
		return err
	}
	if !fi.IsDir() {
		return invalidf("extraction point is not a directory")
	}
	onMount := host != mustJoin(fs.rootfs, p)
	if ro || (readonly && !onMount) {
		return cerrdefs.ErrPermissionDenied.WithMessage("container rootfs is marked read-only")
	}
	opts := &archive.TarOptions{NoOverwriteDirNonDir: !o.AllowOverwriteDirWithFile}
	if !o.CopyUIDGID {
		opts.NoLchown = false
		opts.ChownOpts = nil
	}
	if err := archive.Untar(content, host, opts); err != nil {
		return invalidf("extracting into %s: %v", p, err)
	}
	d.logContainerEvent(c, eventtypes.ActionExtractToDir, map[string]string{"path": p})
	return nil
}

func mustJoin(root, p string) string {
	j, _ := securejoin.SecureJoin(root, p)
	return j
}

// ContainerCommit makes an image of the container's changes on its image.
func (d *Daemon) ContainerCommit(ctx context.Context, o containerrouter.CommitOptions) (string, error) {
	c, err := d.getContainer(o.Container)
	if err != nil {
		return "", err
	}
	var tagged distref.NamedTagged
	if o.Repo != "" {
		ref, err := distref.ParseNormalizedNamed(o.Repo)
		if err != nil {
			return "", invalidf("invalid reference format: %s", o.Repo)
		}
		tag := o.Tag
		if tag == "" {
			tag = "latest"
		}
		if tagged, err = distref.WithTag(distref.TrimNamed(ref), tag); err != nil {
			return "", invalidf("invalid tag format: %s", o.Tag)
		}
	}
	c.Lock()
	running, paused := c.State.Running, c.State.Paused
	cfg := *c.Config
	imageID := c.ImageID
	c.Unlock()
	if o.Pause && running && !paused {
		if err := d.ContainerPause(ctx, c.ID); err == nil {
			defer d.ContainerUnpause(context.Background(), c.ID)
		}
	}
	parent, err := d.img.images.Get(image.ID(imageID))
	if err != nil {
		return "", err
	}
	rw, err := d.layerOf(c)
	if err != nil {
		return "", err
	}
	tr, err := rw.TarStream()
	if err != nil {
		return "", err
	}
	l, err := d.img.layers.Register(tr, parent.ChainID)
	tr.Close()
	if err != nil {
		return "", fmt.Errorf("registering the container's layer: %w", err)
	}
	defer d.img.layers.Release(l)

	img := parent.DockerOCIImage
	now := time.Now().UTC()
	img.Created = &now
	img.Author = o.Author
	img.Config = commitConfig(parent.Config, &cfg, o.Config)
	if err := tarexport.ApplyChanges(&img.Config, o.Changes); err != nil {
		return "", invalidf("%v", err)
	}
	img.RootFS.DiffIDs = append(append([]digest.Digest(nil), parent.RootFS.DiffIDs...), digest.Digest(l.DiffID()))
	img.History = append(append([]ocispec.History(nil), parent.History...), ocispec.History{
		Created: &now, Author: o.Author, Comment: o.Comment, CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " "),
	})
	raw, err := json.Marshal(struct {
		dockerspec.DockerOCIImage
		Comment   string `json:"comment,omitempty"`
		Container string `json:"container,omitempty"`
		Parent    string `json:"parent,omitempty"`
	}{img, o.Comment, c.ID, imageID})
	if err != nil {
		return "", err
	}
	id, err := d.img.images.Create(raw)
	if err != nil {
		return "", err
	}
	if err := d.img.images.SetParent(id, parent.ID); err != nil {
		d.log.WithError(err).Warn("commit: recording the parent image")
	}
	if tagged != nil {
		if err := (archiveStore{d}).Tag(tagged, id.Digest()); err != nil {
			return "", err
		}
	}
	d.logContainerEvent(c, eventtypes.ActionCommit, map[string]string{"comment": o.Comment})
	return id.String(), nil
}

// commitConfig is the new image's config: the container's (which already
// holds the image's, merged at create), with the request's overrides.
func commitConfig(base dockerspec.DockerOCIImageConfig, cfg, override *containertypes.Config) dockerspec.DockerOCIImageConfig {
	out := base
	src := cfg
	if override != nil {
		merged := *cfg
		if len(override.Cmd) > 0 {
			merged.Cmd = override.Cmd
		}
		if len(override.Entrypoint) > 0 {
			merged.Entrypoint = override.Entrypoint
		}
		if len(override.Env) > 0 {
			merged.Env = override.Env
		}
		if override.WorkingDir != "" {
			merged.WorkingDir = override.WorkingDir
		}
		if override.User != "" {
			merged.User = override.User
		}
		if len(override.Labels) > 0 {
			merged.Labels = override.Labels
		}
		src = &merged
	}
	out.User, out.Env, out.Entrypoint, out.Cmd = src.User, src.Env, src.Entrypoint, src.Cmd
	out.WorkingDir, out.Labels, out.StopSignal = src.WorkingDir, src.Labels, src.StopSignal
	if len(src.Volumes) > 0 {
		out.Volumes = src.Volumes
	}
	if len(src.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range src.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return out
}
