package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// Progress actions of a pull, as Docker words them.
const (
	ActionPullingFSLayer   = "Pulling fs layer"
	ActionWaiting          = "Waiting"
	ActionDownloading      = "Downloading"
	ActionVerifying        = "Verifying Checksum"
	ActionDownloadComplete = "Download complete"
	ActionExtracting       = "Extracting"
	ActionPullComplete     = "Pull complete"
	ActionAlreadyExists    = "Already exists"
)

// PullResult is what one pulled reference came to.
type PullResult struct {
	Ref    reference.Named // the reference pulled, normalized (name:tag or name@digest)
	ID     digest.Digest   // the image ID
	Digest digest.Digest   // the manifest's (or index's) digest, recorded as a RepoDigest
	// Updated is true when the reference did not point to this image
	// before: "Downloaded newer image" rather than "Image is up to date".
	Updated bool
}

// Pull pulls ref (name:tag or name@digest; a bare name means :latest) into
// store, tags it (or records the digest reference) and records the
// manifest's digest as a RepoDigest. It reports Docker's progress messages,
// from "<tag>: Pulling from <repo>" to the final "Status: ..." line.
//
// An image of Docker Hub is looked for on its mirrors first: a mirror that
// fails before any layer is fetched (unreachable, or without the image) is
// skipped for the next, and Hub is the last resort, as in Docker.
func Pull(ctx context.Context, store Store, ref reference.Named, opts PullOptions) (*PullResult, error) {
	if _, isDigested := ref.(reference.Canonical); !isDigested {
		ref = reference.TagNameOnly(ref)
	}
	var (
		p   *puller
		r   *resolved
		err error
	)
	// The last endpoint is the registry itself, never skipped.
	for _, ep := range pullEndpoints(ref, opts.Options) {
		if p, r, err = startPull(ctx, store, ref, ep, opts); err == nil || !skipMirror(ctx, opts.Options, ep, err) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return p.finishPull(ctx, ref, r)
}

// startPull connects to ep and resolves ref there; the puller it returns
// holds the connection until finishPull.
func startPull(ctx context.Context, store Store, ref reference.Named, ep endpoint, opts PullOptions) (*puller, *resolved, error) {
	c, err := newRepoClient(ctx, ref, ep, opts.Options, false, nil)
	if err != nil {
		return nil, nil, pullError(err, ref)
	}
	p := newPuller(c, store, opts)
	r, err := p.resolve(ctx, ref)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	return p, r, nil
}

// finishPull fetches what startPull resolved and ends the pull.
func (p *puller) finishPull(ctx context.Context, ref reference.Named, r *resolved) (*PullResult, error) {
	defer p.c.close()
	res, err := p.fetch(ctx, ref, r)
	if err != nil {
		return nil, err
	}
	p.writeStatus(ref, res.Updated)
	return res, nil
}

// skipMirror reports whether a pull goes on to the next endpoint after
// err from ep: it does after a mirror's failure, unless it was cancelled.
func skipMirror(ctx context.Context, opts Options, ep endpoint, err error) bool {
	if !ep.mirror || ctx.Err() != nil {
		return false
	}
	if opts.Log != nil {
		opts.Log.WithError(err).Infof("pull: skipping %s", ep)
	}
	return true
}

// PullAllTags pulls every tag of a repository (docker pull --all-tags),
// from the first of its endpoints (see Pull) that lists them.
func PullAllTags(ctx context.Context, store Store, repo reference.Named, opts PullOptions) ([]*PullResult, error) {
	repo = reference.TrimNamed(repo)
	var (
		c    *repoClient
		tags []string
		err  error
	)
	for _, ep := range pullEndpoints(repo, opts.Options) {
		if c, tags, err = listTagsAt(ctx, repo, ep, opts.Options); err == nil || !skipMirror(ctx, opts.Options, ep, err) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	defer c.close()
	if len(tags) == 0 {
		return nil, notFoundf("no tags found for repository %s", reference.FamiliarName(repo))
	}
	p := newPuller(c, store, opts)
	var results []*PullResult
	updated := false
	for _, tag := range tags {
		ref, err := reference.WithTag(repo, tag)
		if err != nil {
			continue
		}
		res, err := p.pull(ctx, ref)
		if err != nil {
			return results, err
		}
		updated = updated || res.Updated
		results = append(results, res)
	}
	p.writeStatus(repo, updated)
	return results, nil
}

// listTagsAt connects to ep and lists repo's tags there; the client it
// returns is open.
func listTagsAt(ctx context.Context, repo reference.Named, ep endpoint, opts Options) (*repoClient, []string, error) {
	c, err := newRepoClient(ctx, repo, ep, opts, false, nil)
	if err != nil {
		return nil, nil, pullError(err, repo)
	}
	tags, err := c.listTags(ctx)
	if err != nil {
		c.close()
		return nil, nil, pullError(err, repo)
	}
	return c, tags, nil
}

type puller struct {
	c     *repoClient
	store Store
	opts  PullOptions
	rep   *reporter
}

func newPuller(c *repoClient, store Store, opts PullOptions) *puller {
	return &puller{c: c, store: store, opts: opts, rep: &reporter{fn: opts.Progress}}
}

func (p *puller) writeStatus(ref reference.Named, updated bool) {
	if updated {
		p.rep.status("", "Status: Downloaded newer image for "+reference.FamiliarString(ref))
	} else {
		p.rep.status("", "Status: Image is up to date for "+reference.FamiliarString(ref))
	}
}

// pullError words a registry error about ref as Docker does.
func pullError(err error, ref reference.Named) error {
	var ce classed
	var re *RegistryError
	if !errors.As(err, &ce) || !errors.As(err, &re) {
		return err
	}
	switch {
	case re.HasCode("MANIFEST_UNKNOWN"):
		ce.msg = fmt.Sprintf("manifest for %s not found: %s", reference.FamiliarString(ref), ce.msg)
	case re.HasCode("NAME_UNKNOWN"):
		ce.msg = fmt.Sprintf("repository %s not found: %s", reference.FamiliarName(ref), ce.msg)
	case re.HasCode("DENIED"):
		ce.base = errdefs.ErrNotFound // as Docker has it: the repository may not exist
		ce.msg = fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': %s", reference.FamiliarName(ref), ce.msg)
	case re.Status == 404:
		ce.msg = fmt.Sprintf("manifest for %s not found: %s", reference.FamiliarString(ref), ce.msg)
	}
	return ce
}

// pull pulls one tag or digest.
func (p *puller) pull(ctx context.Context, ref reference.Named) (*PullResult, error) {
	r, err := p.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return p.fetch(ctx, ref, r)
}

// resolved is what a pull learns before it fetches layers: the manifest (or
// index) the reference names, the image manifest for this platform, and
// the image config.
type resolved struct {
	top    *manifest
	im     *ocispec.Manifest
	config *imageConfig
}

// resolve fetches the manifest, follows an index to this platform's, and
// fetches and checks the config.
func (p *puller) resolve(ctx context.Context, ref reference.Named) (*resolved, error) {
	tagOrDigest := ""
	switch r := ref.(type) {
	case reference.Canonical:
		tagOrDigest = r.Digest().String()
	case reference.Tagged:
		tagOrDigest = r.Tag()
	default:
		return nil, invalidf("%s: a tag or digest is required", reference.FamiliarString(ref))
	}
	top, err := p.c.getManifest(ctx, tagOrDigest)
	if err != nil {
		return nil, pullError(err, ref)
	}
	// Docker names the repository by its path in the registry.
	p.rep.status(tagOrDigest, "Pulling from "+reference.Path(ref))

	m, err := p.resolveIndex(ctx, ref, top)
	if err != nil {
		return nil, err
	}
	im, config, err := p.fetchConfig(ctx, ref, m)
	if err != nil {
		return nil, err
	}
	return &resolved{top: top, im: im, config: config}, nil
}

// fetch makes sure the image and its layers are in the store and points
// ref, and the digest reference, at it.
func (p *puller) fetch(ctx context.Context, ref reference.Named, r *resolved) (*PullResult, error) {
	top, im, config := r.top, r.im, r.config
	id := digest.FromBytes(config.raw)
	if _, err := p.store.ImageConfig(id); err != nil {
		if !isNotFound(err) {
			return nil, err
		}
		held, err := p.pullLayers(ctx, im, config)
		// The image takes its own references on its layers.
		defer func() {
			for _, release := range held {
				release()
			}
		}()
		if err != nil {
			return nil, err
		}
		got, err := p.store.CreateImage(config.raw)
		if err != nil {
			return nil, fmt.Errorf("creating image %s: %w", id, err)
		}
		if got != id {
			return nil, fmt.Errorf("creating image: the store gave ID %s, expected %s", got, id)
		}
	} else {
		// Complete already; the blob index still learns where its layers are.
		p.recordBlobs(im, config)
	}
	res := &PullResult{Ref: ref, ID: id, Digest: top.digest}
	old, err := p.store.LookupReference(ref)
	res.Updated = err != nil || old != id
	if tagged, ok := ref.(reference.NamedTagged); ok {
		if _, isDigested := ref.(reference.Canonical); !isDigested {
			if err := p.store.Tag(tagged, id); err != nil {
				return nil, fmt.Errorf("tagging %s: %w", reference.FamiliarString(ref), err)
			}
		}
	}
	dref, err := reference.WithDigest(reference.TrimNamed(ref), top.digest)
	if err != nil {
		return nil, err
	}
	// A digest keeps the image it was first recorded for, as in Docker (an
	// index's digest names an image per platform).
	if prev, err := p.store.LookupReference(dref); err != nil || prev == id {
		if err := p.store.AddDigest(dref, id); err != nil {
			return nil, fmt.Errorf("recording digest %s: %w", reference.FamiliarString(dref), err)
		}
	}
	p.rep.status("", "Digest: "+top.digest.String())
	return res, nil
}

// wantPlatform is the platform to pull and whether the user chose it.
func (p *puller) wantPlatform() (ocispec.Platform, bool) {
	if p.opts.Platform != nil {
		return platform.Normalize(*p.opts.Platform), true
	}
	return platform.Default(), false
}

const maxIndexDepth = 4

// resolveIndex follows an image index (manifest list) to the manifest of
// the wanted platform.
func (p *puller) resolveIndex(ctx context.Context, ref reference.Named, m *manifest) (*manifest, error) {
	want, _ := p.wantPlatform()
	for depth := 0; ; depth++ {
		switch m.mediaType {
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			return m, nil
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		case mediaTypeDockerSchema1, mediaTypeDockerSchema1Signed:
			return nil, invalidf("%s: Docker Image manifest version 2, schema 1 is not supported (it was removed from Docker too); push the image again with a current client", reference.FamiliarString(ref))
		default:
			return nil, invalidf("%s: unsupported manifest media type %q", reference.FamiliarString(ref), m.mediaType)
		}
		if depth >= maxIndexDepth {
			return nil, invalidf("%s: image indexes nested more than %d deep", reference.FamiliarString(ref), maxIndexDepth)
		}
		var index ocispec.Index
		if err := json.Unmarshal(m.body, &index); err != nil {
			return nil, invalidf("%s: invalid image index: %v", reference.FamiliarString(ref), err)
		}
		best, bestScore := -1, 0
		for i, d := range index.Manifests {
			if d.Platform == nil || d.Annotations["vnd.docker.reference.type"] != "" {
				continue // attestations and the like
			}
			if s := platform.Score(want, *d.Platform); s > bestScore {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			return nil, notFoundf("no matching manifest for %s in the manifest list entries", platform.String(want))
		}
		d := index.Manifests[best]
		if err := d.Digest.Validate(); err != nil {
			return nil, invalidf("%s: invalid digest %q in the image index", reference.FamiliarString(ref), d.Digest)
		}
		child, err := p.c.getManifest(ctx, d.Digest.String())
		if err != nil {
			return nil, pullError(err, ref)
		}
		if d.MediaType != "" && child.mediaType != d.MediaType {
			// Trust the descriptor, whose digest the content matches.
			child.mediaType = d.MediaType
		}
		m = child
	}
}

// imageConfig is a config as Pull checks it.
type imageConfig struct {
	raw          []byte
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	RootFS       *struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
}

// fetchConfig parses an image manifest and fetches and checks its config.
func (p *puller) fetchConfig(ctx context.Context, ref reference.Named, m *manifest) (*ocispec.Manifest, *imageConfig, error) {
	name := reference.FamiliarString(ref)
	var im ocispec.Manifest
	if err := json.Unmarshal(m.body, &im); err != nil {
		return nil, nil, invalidf("%s: invalid manifest: %v", name, err)
	}
	switch im.Config.MediaType {
	case ocispec.MediaTypeImageConfig, mediaTypeDockerConfig:
	default:
		return nil, nil, invalidf("%s: the manifest's config has media type %q: it is not a container image", name, im.Config.MediaType)
	}
	if err := im.Config.Digest.Validate(); err != nil {
		return nil, nil, invalidf("%s: invalid config digest %q", name, im.Config.Digest)
	}
	for _, l := range im.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, nil, invalidf("%s: invalid layer digest %q", name, l.Digest)
		}
		if !l.Digest.Algorithm().Available() {
			return nil, nil, invalidf("%s: unsupported digest algorithm %s", name, l.Digest.Algorithm())
		}
		switch l.MediaType {
		case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
			ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still found in the wild
			ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
			mediaTypeDockerLayer, mediaTypeDockerLayerGzip, mediaTypeDockerLayerZstd, mediaTypeDockerForeignLayer:
		default:
			return nil, nil, invalidf("%s: layer %s has unsupported media type %q", name, l.Digest, l.MediaType)
		}
	}
	if im.Config.Size > maxConfigSize {
		return nil, nil, invalidf("%s: config is larger than %d bytes", name, maxConfigSize)
	}
	rc, err := p.c.getBlob(ctx, im.Config.Digest)
	if err != nil {
		return nil, nil, err
	}
	raw, err := readLimited(rc, maxConfigSize)
	rc.Close()
	if err != nil {
		return nil, nil, translateError(ctx, err)
	}
	if got := im.Config.Digest.Algorithm().FromBytes(raw); got != im.Config.Digest {
		return nil, nil, invalidf("%s: image config verification failed for digest %s (got %s)", name, im.Config.Digest, got)
	}
	if im.Config.Size > 0 && int64(len(raw)) != im.Config.Size {
		return nil, nil, invalidf("%s: image config has %d bytes, the manifest says %d", name, len(raw), im.Config.Size)
	}
	cfg := &imageConfig{raw: raw}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, nil, invalidf("%s: invalid image config: %v", name, err)
	}
	if cfg.RootFS == nil || cfg.RootFS.Type != "layers" {
		return nil, nil, invalidf("%s: invalid image config: rootfs.type is not \"layers\"", name)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, nil, invalidf("%s: invalid image config: diff ID %q", name, d)
		}
	}
	if len(cfg.RootFS.DiffIDs) != len(im.Layers) {
		return nil, nil, invalidf("%s: the manifest has %d layers, the config %d diff IDs", name, len(im.Layers), len(cfg.RootFS.DiffIDs))
	}
	have := platform.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	if want, chosen := p.wantPlatform(); chosen && platform.Score(want, have) == 0 {
		return nil, nil, notFoundf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s", name, platform.String(want), platform.String(have))
	}
	if cfg.OS != "" && cfg.OS != runtime.GOOS {
		return nil, nil, invalidf("image operating system %q cannot be used on this platform", cfg.OS)
	}
	return &im, cfg, nil
}

// download is one blob being fetched, to a temporary file or, for the
// layer registered first, straight to its registration (stream). Its layer
// may be extracted while it downloads (see follower and streamReader):
// written counts the bytes in the file, more signals each write, started
// is closed once the file exists (path set) or the stream flows, or the
// download failed; done when it is complete and checked (err set).
type download struct {
	desc    ocispec.Descriptor
	id      string
	path    string
	stream  *blobStream
	written atomic.Int64
	more    chan struct{}
	started chan struct{}
	done    chan struct{}
	err     error
}

func (d *download) finished() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// pullLayers makes sure every layer of the image is in the store. It
// returns the references it holds, which the caller drops once the image
// exists (or the pull failed).
//
// Layers download max at a time, lowest first, while their digest and size
// are checked: the first one to register straight into its registration
// (its reader sees the blob's end only once the blob checked out), the
// others to temporary files. They are registered in chain order by this
// goroutine, each as soon as the ones below it are: from the file as it
// grows when its download is still under way (so that a single large layer
// is downloaded, decompressed and applied at once), and a layer whose blob
// then fails its check is released again, like every other layer of a
// failed pull. Its content was never trusted anyway: a layer's diff ID is
// the sha256 of what the store applied, and it must match the config's.
func (p *puller) pullLayers(ctx context.Context, im *ocispec.Manifest, cfg *imageConfig) (held []func(), err error) {
	diffIDs := cfg.RootFS.DiffIDs
	chains := make([]digest.Digest, len(diffIDs))
	var parent digest.Digest
	for i, d := range diffIDs {
		chains[i] = ChainID(parent, d)
		parent = chains[i]
	}

	// The highest layer present; all those below it are, too.
	have := -1
	for i := len(chains) - 1; i >= 0; i-- {
		release, err := p.store.GetLayer(chains[i])
		if err == nil {
			held = append(held, release)
			have = i
			break
		}
		if !isNotFound(err) {
			return held, err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp(p.opts.TempDir, "berth-pull-")
	if err != nil {
		return held, err
	}
	defer os.RemoveAll(tmp)

	var queue []*download
	byDigest := map[digest.Digest]*download{}
	max := p.opts.MaxConcurrent
	if max <= 0 {
		max = 3
	}
	for i, l := range im.Layers {
		id := shortID(l.Digest)
		if i <= have {
			p.rep.status(id, ActionAlreadyExists)
			continue
		}
		if byDigest[l.Digest] != nil {
			continue
		}
		d := &download{desc: l, id: id, more: make(chan struct{}, 1), started: make(chan struct{}), done: make(chan struct{})}
		byDigest[l.Digest] = d
		queue = append(queue, d)
		p.rep.status(id, ActionPullingFSLayer)
	}
	// The first layer to register is extracted as it downloads: it skips
	// the temporary file, unless its blob is registered twice (a stream
	// is read once).
	if len(queue) > 0 {
		uses := 0
		for _, l := range im.Layers[have+1:] {
			if l.Digest == queue[0].desc.Digest {
				uses++
			}
		}
		if uses == 1 {
			queue[0].stream = newBlobStream(ctx)
		}
	}
	for i, d := range queue {
		if i >= max {
			p.rep.status(d.id, ActionWaiting)
		}
	}

	var (
		errMu    sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	// fail records the first failure and stops everything; it returns
	// that first failure, the cause of any that follow.
	fail := func(err error) error {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
		cancel()
		return firstErr
	}
	jobs := make(chan *download)
	for range min(max, len(queue)) {
		wg.Go(func() {
			buf := make([]byte, bufSize)
			for d := range jobs {
				d.err = p.download(ctx, tmp, d, buf)
				close(d.done)
				if d.err != nil {
					_ = fail(d.err)
				}
			}
		})
	}
	wg.Go(func() {
		defer close(jobs)
		for _, d := range queue {
			select {
			case jobs <- d:
			case <-ctx.Done():
				return
			}
		}
	})
	defer func() {
		cancel()
		wg.Wait()
	}()

	parent = ""
	if have >= 0 {
		parent = chains[have]
	}
	for i := have + 1; i < len(im.Layers); i++ {
		d := byDigest[im.Layers[i].Digest]
		select {
		case <-d.started:
		case <-ctx.Done():
			return held, fail(ctx.Err())
		}
		chain, release, err := p.register(ctx, d, parent, i, diffIDs[i], chains[i])
		if release != nil {
			held = append(held, release)
		}
		if err != nil {
			return held, fail(err)
		}
		// The blob must have checked out too.
		select {
		case <-d.done:
			if d.err != nil {
				return held, fail(d.err)
			}
		case <-ctx.Done():
			return held, fail(ctx.Err())
		}
		p.rep.status(d.id, ActionPullComplete)
		parent = chain
	}
	p.recordBlobs(im, cfg)
	return held, nil
}

// download fetches a blob to its stream or a file in dir, checking its size
// and digest.
func (p *puller) download(ctx context.Context, dir string, d *download, buf []byte) (err error) {
	startedClosed := false
	defer func() {
		if !startedClosed {
			close(d.started)
		}
	}()
	rc, err := p.c.getBlob(ctx, d.desc.Digest)
	if err != nil {
		return fmt.Errorf("downloading layer %s: %w", d.id, err)
	}
	defer rc.Close()
	var dst io.Writer = d.stream
	if d.stream == nil {
		f, err := os.CreateTemp(dir, "blob-")
		if err != nil {
			return err
		}
		defer f.Close()
		d.path = f.Name()
		dst = &notifyingWriter{f: f, d: d}
	}
	close(d.started)
	startedClosed = true

	h := d.desc.Digest.Algorithm().Hash()
	var src io.Reader = rc
	if d.desc.Size > 0 {
		src = io.LimitReader(rc, d.desc.Size+1) // one more, to tell a longer blob
	}
	pr := newProgressReader(ctx, src, p.rep, d.id, ActionDownloading, d.desc.Size)
	pr.flush()
	n, err := io.CopyBuffer(io.MultiWriter(dst, h), pr, buf)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errorf(errdefs.ErrUnavailable, "downloading layer %s: connection closed after %d of %d bytes", d.id, n, d.desc.Size)
		}
		return translateError(ctx, fmt.Errorf("downloading layer %s: %w", d.id, err))
	}
	pr.flush()
	p.rep.status(d.id, ActionVerifying)
	if d.desc.Size > 0 && n != d.desc.Size {
		return invalidf("filesystem layer verification failed for digest %s: the registry sent %d bytes, the manifest says %d", d.desc.Digest, n, d.desc.Size)
	}
	if got := digest.NewDigest(d.desc.Digest.Algorithm(), h); got != d.desc.Digest {
		return invalidf("filesystem layer verification failed for digest %s", d.desc.Digest)
	}
	if d.stream != nil {
		d.stream.closeWrite() // its reader sees the end only now, the blob checked
	}
	p.rep.status(d.id, ActionDownloadComplete)
	return nil
}

// notifyingWriter writes a download's file and tells its follower.
type notifyingWriter struct {
	f *os.File
	d *download
}

func (w *notifyingWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.d.written.Add(int64(n))
	select {
	case w.d.more <- struct{}{}:
	default:
	}
	return n, err
}

// follower reads a download's file as it is written, to its end once the
// download is complete; a failed download fails it.
type follower struct {
	ctx context.Context
	d   *download
	f   *os.File
	off int64
}

func (r *follower) Read(p []byte) (int, error) {
	for {
		// finished first: written is final once done is closed.
		finished := r.d.finished()
		if w := r.d.written.Load(); r.off < w {
			n, err := r.f.ReadAt(p[:min(int64(len(p)), w-r.off)], r.off)
			r.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err != nil && err != io.EOF {
				return 0, err
			}
		}
		if finished {
			if r.d.err != nil {
				return 0, r.d.err
			}
			return 0, io.EOF
		}
		select {
		case <-r.d.more:
		case <-r.d.done:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// register decompresses a blob, downloaded or downloading, into the store
// on parent and checks its diff ID.
func (p *puller) register(ctx context.Context, d *download, parent digest.Digest, i int, wantDiffID, wantChain digest.Digest) (digest.Digest, func(), error) {
	chain, diffID, release, err := p.apply(ctx, d, parent)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", release, cerr
		}
		return "", release, p.registerError(ctx, d, err)
	}
	// The decoders read their blob to its end, but should one stop short,
	// a streamed download would wait for a reader forever.
	drainStream(ctx, d)
	if diffID != wantDiffID {
		return "", release, p.registerError(ctx, d, invalidf("layer %d (%s) has diff ID %s, the image config says %s", i, d.desc.Digest, diffID, wantDiffID))
	}
	if chain != wantChain {
		return "", release, fmt.Errorf("registering layer %s: the store gave chain ID %s, expected %s", d.id, chain, wantChain)
	}
	return chain, release, nil
}

// apply decompresses d's blob into the store on parent. Nothing it starts
// outlives it, whatever the download does: the blob's reader and the
// decoder stop with rctx, which ends with it.
func (p *puller) apply(ctx context.Context, d *download, parent digest.Digest) (chain, diffID digest.Digest, release func(), err error) {
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var blob io.Reader
	if d.stream != nil {
		blob = &streamReader{ctx: rctx, d: d}
	} else {
		if d.path == "" { // the download failed before it began
			<-d.done
			return "", "", nil, d.err
		}
		f, err := os.Open(d.path)
		if err != nil {
			return "", "", nil, err
		}
		defer f.Close()
		blob = &follower{ctx: rctx, d: d, f: f}
	}
	pr := newProgressReader(rctx, blob, p.rep, d.id, ActionExtracting, d.desc.Size)
	// Extraction is reported once the download is: the CLI shows one status
	// per layer.
	pr.quiet = func() bool { return !d.finished() }
	dec, err := decompress(rctx, pr, p.opts.GzipCommand)
	if err != nil {
		return "", "", nil, fmt.Errorf("layer %s: %w", d.id, err)
	}
	// Decompression runs ahead in a goroutine of its own, so that it and
	// the store's work share the CPUs.
	ahead := newAsyncReader(dec, 4, bufSize)
	defer func() {
		rcancel()
		ahead.Close()
		dec.Close()
	}()
	chain, diffID, release, err = p.store.RegisterLayer(pulledDiff{ahead}, parent)
	if err != nil {
		return "", "", release, fmt.Errorf("registering layer %s: %w", d.id, err)
	}
	pr.flush()
	return chain, diffID, release, nil
}

// pulledDiff is the diff of a pulled layer, which the layer store applies
// without early writeback (see image/layer's writeback.go): nobody syncs a
// pulled layer, and the fsyncs that commit it would wait for the device to
// persist whatever writeback had started.
type pulledDiff struct{ io.Reader }

func (pulledDiff) EarlyWriteback() bool { return false }

// registerError prefers the download's own failure to a refused stream (a
// digest mismatch explains a broken stream better than the decompressor or
// a diff ID).
func (p *puller) registerError(ctx context.Context, d *download, err error) error {
	if !errdefs.IsInvalidArgument(err) {
		return err
	}
	drainStream(ctx, d)
	select {
	case <-d.done:
		if d.err != nil {
			return d.err
		}
	case <-ctx.Done():
	}
	return err
}

// drainStream reads what its registration left of a streamed blob, once
// the registration is over: the download waits on its reader to finish.
func drainStream(ctx context.Context, d *download) {
	if d.stream != nil {
		_, _ = io.Copy(io.Discard, &streamReader{ctx: ctx, d: d})
	}
}

// recordBlobs tells the blob index which blob holds which layer.
func (p *puller) recordBlobs(im *ocispec.Manifest, cfg *imageConfig) {
	if p.opts.Blobs == nil {
		return
	}
	for i, l := range im.Layers {
		_ = p.opts.Blobs.Add(cfg.RootFS.DiffIDs[i], BlobInfo{
			Digest: l.Digest, MediaType: l.MediaType, Size: l.Size,
			Registry: p.c.domain, Repository: p.c.path,
		})
	}
}
