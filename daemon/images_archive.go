package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"

	imagerouter "github.com/berth-engine/berth/api/server/router/image"
	"github.com/berth-engine/berth/api/types/progress"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/layer"
	"github.com/berth-engine/berth/image/platform"
	"github.com/berth-engine/berth/image/tarexport"
)

// archiveStore adapts the image subsystem to tarexport.Store, publishing
// tag events through the Daemon.
type archiveStore struct{ d *Daemon }

var (
	_ tarexport.Store      = archiveStore{}
	_ tarexport.LayerSizer = archiveStore{}
)

func (a archiveStore) svc() *imageService { return a.d.img }

func (a archiveStore) GetLayer(chainID digest.Digest) (func(), error) {
	l, err := a.svc().layers.Get(layer.ChainID(chainID))
	if err != nil {
		return nil, err
	}
	return a.releaser(l), nil
}

func (a archiveStore) RegisterLayer(diff io.Reader, parent digest.Digest) (digest.Digest, digest.Digest, func(), error) {
	l, err := a.svc().layers.Register(diff, layer.ChainID(parent))
	if err != nil {
		return "", "", nil, err
	}
	return digest.Digest(l.ChainID()), digest.Digest(l.DiffID()), a.releaser(l), nil
}

// releaser drops l's reference once, however often it is called.
func (a archiveStore) releaser(l layer.Layer) func() {
	var once sync.Once
	return func() { once.Do(func() { _, _ = a.svc().layers.Release(l) }) }
}

func (a archiveStore) LayerTarStream(chainID digest.Digest) (io.ReadCloser, error) {
	l, err := a.svc().layers.Get(layer.ChainID(chainID))
	if err != nil {
		return nil, err
	}
	rc, err := l.TarStream()
	if err != nil {
		a.svc().layers.Release(l)
		return nil, err
	}
	return &releasingReader{ReadCloser: rc, release: a.releaser(l)}, nil
}

func (a archiveStore) LayerTarSize(chainID digest.Digest) (int64, error) {
	l, err := a.svc().layers.Get(layer.ChainID(chainID))
	if err != nil {
		return 0, err
	}
	defer a.svc().layers.Release(l)
	return l.TarSize(), nil
}

func (a archiveStore) CreateImage(config []byte) (digest.Digest, error) {
	id, err := a.svc().images.Create(config)
	return id.Digest(), err
}

func (a archiveStore) ImageConfig(id digest.Digest) ([]byte, error) {
	img, err := a.svc().images.Get(image.IDFromDigest(id))
	if err != nil {
		return nil, err
	}
	return img.RawJSON(), nil
}

func (a archiveStore) ResolveImage(refOrID string) (digest.Digest, error) {
	id, err := a.d.resolveImageID(refOrID)
	return id.Digest(), err
}

func (a archiveStore) Tag(ref distref.NamedTagged, id digest.Digest) error {
	iid := image.IDFromDigest(id)
	if err := a.svc().refs.AddTag(ref, iid, true); err != nil {
		return err
	}
	if err := a.svc().images.SetLastUpdated(iid, time.Now()); err != nil {
		return err
	}
	a.d.logImageEvent(iid, distref.FamiliarString(ref), eventtypes.ActionTag)
	return nil
}

func (a archiveStore) ReferencesByName(repo distref.Named) []tarexport.Association {
	var out []tarexport.Association
	for _, as := range a.svc().refs.ReferencesByName(repo) {
		out = append(out, tarexport.Association{Ref: as.Ref, ID: as.ID.Digest()})
	}
	return out
}

type releasingReader struct {
	io.ReadCloser
	release func()
}

func (r *releasingReader) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// tmpDir is where archives are unpacked: on the data root's filesystem, so
// that layers are not copied across filesystems.
func (d *Daemon) tmpDir() string { return filepath.Join(d.Config().DataRoot, "tmp") }

// ImageLoad answers POST /images/load.
func (d *Daemon) ImageLoad(ctx context.Context, src io.Reader, out progress.Output) ([]string, error) {
	if err := ensureDir(d.tmpDir()); err != nil {
		return nil, err
	}
	var lines []string
	loaded, err := tarexport.Load(ctx, src, archiveStore{d}, tarexport.LoadOptions{
		TempDir: d.tmpDir(),
		Progress: func(p tarexport.Progress) {
			if p.Message != "" {
				lines = append(lines, p.Message)
				return
			}
			_ = out.WriteProgress(progress.Progress{ID: p.ID, Action: p.Action, Current: p.Current, Total: p.Total})
		},
	})
	if err != nil {
		return nil, err
	}
	for _, img := range loaded {
		d.logImageEvent(image.IDFromDigest(img.ID), strings.Join(img.Tags, ","), eventtypes.ActionLoad)
	}
	return lines, nil
}

// ImageExport answers GET /images/get and /images/{name}/get.
func (d *Daemon) ImageExport(ctx context.Context, names []string, w io.Writer) error {
	if err := ensureDir(d.tmpDir()); err != nil {
		return err
	}
	// Resolve first: an unknown name must be a 404, not a broken archive.
	for _, n := range names {
		if _, err := d.resolveImageID(n); err != nil {
			return err
		}
	}
	if err := tarexport.Save(ctx, w, archiveStore{d}, names, tarexport.SaveOptions{TempDir: d.tmpDir()}); err != nil {
		return err
	}
	for _, n := range names {
		if id, err := d.resolveImageID(n); err == nil {
			d.logImageEvent(id, n, eventtypes.ActionSave)
		}
	}
	return nil
}

// ImageImport answers POST /images/create?fromSrc=-.
func (d *Daemon) ImageImport(ctx context.Context, src io.Reader, opts imagerouter.ImportOptions, _ progress.Output) (string, error) {
	o := tarexport.ImportOptions{Changes: opts.Changes, Message: opts.Message}
	if o.Message == "" {
		o.Message = "Imported from -" // Docker's comment for an import from the request body
	}
	if opts.Repo != "" {
		ref, err := distref.ParseNormalizedNamed(opts.Repo)
		if err != nil {
			return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", opts.Repo))
		}
		if opts.Tag != "" {
			if ref, err = distref.WithTag(distref.TrimNamed(ref), opts.Tag); err != nil {
				return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %s", opts.Tag))
			}
		}
		tagged, ok := distref.TagNameOnly(ref).(distref.NamedTagged)
		if !ok {
			return "", cerrdefs.ErrInvalidArgument.WithMessage("cannot import to a digest reference")
		}
		o.Tag = tagged
	}
	if opts.Platform != "" {
		p, err := platform.Parse(opts.Platform)
		if err != nil {
			return "", err
		}
		o.Platform = &p
	}
	id, err := tarexport.Import(ctx, src, archiveStore{d}, o)
	if err != nil {
		return "", err
	}
	d.logImageEvent(image.IDFromDigest(id), opts.Repo, eventtypes.ActionImport)
	return id.String(), nil
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return nil
}
