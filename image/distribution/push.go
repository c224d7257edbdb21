package distribution

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Progress actions of a push, as Docker words them.
const (
	ActionPreparing   = "Preparing"
	ActionPushing     = "Pushing"
	ActionPushed      = "Pushed"
	ActionLayerExists = "Layer already exists"
	ActionMountedFrom = "Mounted from " // + the source repository
)

// maxMountSources bounds the repositories a push tries to mount a layer
// from, and the blobs of its own repository it checks.
const maxMountSources = 3

// Push pushes the image ref names (name:tag), or every tag of the
// repository when ref has no tag, with Docker's progress messages: "The
// push refers to repository [...]", a line per layer, then per tag
// "<tag>: digest: sha256:... size: N" and an aux PushResult. The pushed
// manifest's digest is recorded as a RepoDigest.
func Push(ctx context.Context, store Store, ref reference.Named, opts Options) ([]PushResult, error) {
	if _, ok := ref.(reference.Canonical); ok {
		return nil, invalidf("cannot push a digest reference: %s", reference.FamiliarString(ref))
	}
	repo := reference.TrimNamed(ref)
	rep := &reporter{fn: opts.Progress}
	rep.status("", "The push refers to repository ["+repo.Name()+"]")

	all := store.ReferencesByName(repo)
	if len(all) == 0 {
		return nil, notFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(repo))
	}
	var todo []Association
	if tagged, ok := ref.(reference.NamedTagged); ok {
		id, err := store.LookupReference(tagged)
		if err != nil {
			if isNotFound(err) {
				return nil, notFoundf("tag does not exist: %s", reference.FamiliarString(tagged))
			}
			return nil, err
		}
		todo = []Association{{Ref: tagged, ID: id}}
	} else {
		for _, a := range all {
			if _, isTagged := a.Ref.(reference.NamedTagged); isTagged {
				if _, isDigested := a.Ref.(reference.Canonical); !isDigested {
					todo = append(todo, a)
				}
			}
		}
		if len(todo) == 0 {
			return nil, notFoundf("no tags to push for %s", reference.FamiliarName(repo))
		}
	}

	ps := &pusher{store: store, opts: opts, rep: rep, domain: reference.Domain(repo), path: reference.Path(repo), done: map[digest.Digest]ocispec.Descriptor{}}
	images := make([]*pushImage, 0, len(todo))
	for _, a := range todo {
		img, err := ps.load(a)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	c, err := newRepoClient(ctx, repo, endpoint{host: ps.domain}, opts, true, ps.mountSources(images))
	if err != nil {
		return nil, err
	}
	defer c.close()
	ps.c = c

	var results []PushResult
	for _, img := range images {
		res, err := ps.push(ctx, img)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

type pusher struct {
	c            *repoClient
	store        Store
	opts         Options
	rep          *reporter
	domain, path string

	mu   sync.Mutex
	done map[digest.Digest]ocispec.Descriptor // layers pushed, by diff ID
}

// pushImage is one tag to push.
type pushImage struct {
	ref     reference.NamedTagged
	id      digest.Digest
	config  []byte
	diffIDs []digest.Digest
}

func (ps *pusher) load(a Association) (*pushImage, error) {
	config, err := ps.store.ImageConfig(a.ID)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", a.ID, err)
	}
	var c struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("image %s has an invalid config: %w", a.ID, err)
	}
	return &pushImage{ref: a.Ref.(reference.NamedTagged), id: a.ID, config: config, diffIDs: c.RootFS.DiffIDs}, nil
}

// mountSources are the other repositories of the registry known to hold
// some of the layers.
func (ps *pusher) mountSources(images []*pushImage) []string {
	var repos []string
	for _, img := range images {
		for _, d := range img.diffIDs {
			for _, b := range ps.opts.Blobs.Get(d) {
				if b.Registry == ps.domain && b.Repository != ps.path && !slices.Contains(repos, b.Repository) && len(repos) < 8 {
					repos = append(repos, b.Repository)
				}
			}
		}
	}
	return repos
}

// upload is one layer being pushed.
type upload struct {
	diffID, chain digest.Digest
	id            string
	desc          ocispec.Descriptor
	done          chan struct{}
	err           error
}

func (ps *pusher) push(ctx context.Context, img *pushImage) (PushResult, error) {
	chains := make([]digest.Digest, len(img.diffIDs))
	var parent digest.Digest
	for i, d := range img.diffIDs {
		chains[i] = ChainID(parent, d)
		parent = chains[i]
	}
	// Top layer first, as Docker lists them.
	byDiff := map[digest.Digest]*upload{}
	var queue []*upload
	for i := len(img.diffIDs) - 1; i >= 0; i-- {
		d := img.diffIDs[i]
		if byDiff[d] != nil {
			continue
		}
		u := &upload{diffID: d, chain: chains[i], id: shortID(d), done: make(chan struct{})}
		byDiff[d] = u
		queue = append(queue, u)
		ps.rep.status(u.id, ActionPreparing)
	}
	max := ps.opts.MaxConcurrent
	if max <= 0 {
		max = 5
	}
	for i, u := range queue {
		if i >= max {
			ps.rep.status(u.id, ActionWaiting)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *upload)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	for range min(max, len(queue)) {
		wg.Go(func() {
			buf := make([]byte, bufSize)
			for u := range jobs {
				u.desc, u.err = ps.pushLayer(ctx, u, buf)
				close(u.done)
				if u.err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = u.err
					}
					errMu.Unlock()
					cancel()
				}
			}
		})
	}
	wg.Go(func() {
		defer close(jobs)
		for _, u := range queue {
			select {
			case jobs <- u:
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Wait()
	if firstErr != nil {
		return PushResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return PushResult{}, err
	}

	// The config, then the manifest.
	configDesc := ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: digest.FromBytes(img.config), Size: int64(len(img.config))}
	exists, err := ps.c.blobExists(ctx, configDesc.Digest)
	if err != nil {
		return PushResult{}, err
	}
	if !exists {
		loc, _, err := ps.c.startUpload(ctx, "", "")
		if err != nil {
			return PushResult{}, err
		}
		if err := ps.c.finishUpload(ctx, loc, configDesc.Digest, img.config); err != nil {
			return PushResult{}, err
		}
	}
	layers := make([]ocispec.Descriptor, len(img.diffIDs))
	for i, d := range img.diffIDs {
		layers[i] = byDiff[d].desc
	}
	mediaType, body, err := buildManifest(configDesc, layers)
	if err != nil {
		return PushResult{}, err
	}
	tag := img.ref.Tag()
	if err := ps.c.putManifest(ctx, tag, mediaType, body); err != nil {
		return PushResult{}, err
	}
	dgst := digest.FromBytes(body)
	res := PushResult{Tag: tag, Digest: dgst.String(), Size: len(body)}
	ps.rep.status("", fmt.Sprintf("%s: digest: %s size: %d", tag, dgst, len(body)))
	ps.rep.report(Progress{Aux: res})
	dref, err := reference.WithDigest(reference.TrimNamed(img.ref), dgst)
	if err != nil {
		return res, err
	}
	if err := ps.store.AddDigest(dref, img.id); err != nil {
		return res, fmt.Errorf("recording digest %s: %w", reference.FamiliarString(dref), err)
	}
	return res, nil
}

// pushLayer makes sure the repository has a blob of a layer: one it is
// known to have already, one mounted from another repository, or the layer
// compressed and uploaded.
func (ps *pusher) pushLayer(ctx context.Context, u *upload, buf []byte) (ocispec.Descriptor, error) {
	ps.mu.Lock()
	desc, ok := ps.done[u.diffID]
	ps.mu.Unlock()
	if ok { // an earlier tag of this push
		ps.rep.status(u.id, ActionLayerExists)
		return desc, nil
	}
	var here, elsewhere []BlobInfo
	for _, b := range ps.opts.Blobs.Get(u.diffID) {
		if b.Registry != ps.domain || !compressionKnown(b.MediaType) {
			continue
		}
		if b.Repository == ps.path {
			here = append(here, b)
		} else {
			elsewhere = append(elsewhere, b)
		}
	}
	for _, b := range here[:min(len(here), maxMountSources)] {
		exists, err := ps.c.blobExists(ctx, b.Digest)
		if err != nil && ctx.Err() != nil {
			return desc, ctx.Err()
		}
		if exists {
			ps.rep.status(u.id, ActionLayerExists)
			return ps.finish(u, b), nil
		}
	}
	var loc string
	for _, b := range elsewhere[:min(len(elsewhere), maxMountSources)] {
		l, mounted, err := ps.c.startUpload(ctx, b.Digest, b.Repository)
		if err != nil {
			if ctx.Err() != nil {
				return desc, ctx.Err()
			}
			continue
		}
		if mounted {
			ps.rep.status(u.id, ActionMountedFrom+b.Repository) // its path, as Docker shows it
			return ps.finish(u, b), nil
		}
		loc = l // the registry started an upload instead: use it
		break
	}
	if loc == "" {
		l, _, err := ps.c.startUpload(ctx, "", "")
		if err != nil {
			return desc, err
		}
		loc = l
	}
	b, err := ps.uploadLayer(ctx, u, loc, buf)
	if err != nil {
		return desc, err
	}
	ps.rep.status(u.id, ActionPushed)
	return ps.finish(u, b), nil
}

// finish records where a layer's blob is and returns its descriptor.
func (ps *pusher) finish(u *upload, b BlobInfo) ocispec.Descriptor {
	b.Registry, b.Repository = ps.domain, ps.path
	_ = ps.opts.Blobs.Add(u.diffID, b)
	desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
	ps.mu.Lock()
	ps.done[u.diffID] = desc
	ps.mu.Unlock()
	return desc
}

// uploadLayer streams the layer's tar, gzip-compressed, to the upload at
// loc; progress counts the tar's bytes.
func (ps *pusher) uploadLayer(ctx context.Context, u *upload, loc string, buf []byte) (BlobInfo, error) {
	size, err := ps.store.LayerTarSize(u.chain)
	if err != nil {
		return BlobInfo{}, fmt.Errorf("layer %s: %w", u.id, err)
	}
	rc, err := ps.store.LayerTarStream(u.chain)
	if err != nil {
		return BlobInfo{}, fmt.Errorf("layer %s: %w", u.id, err)
	}
	defer rc.Close()
	src := newProgressReader(ctx, rc, ps.rep, u.id, ActionPushing, size)
	src.flush()
	// Three stages on their own goroutines: reading (and verifying) the
	// layer's tar, compressing (and hashing) it, and sending the result.
	ahead := newAsyncReader(src, 4, bufSize)
	defer ahead.Close()

	pr, pw := io.Pipe()
	h := digest.SHA256.Digester()
	cw := &countWriter{}
	compressed := make(chan error, 1)
	go func() {
		// The compressor writes in small pieces: gather them, or each
		// becomes a chunk, a write system call, of the request.
		bw := bufio.NewWriterSize(pw, bufSize)
		gz, err := gzip.NewWriterLevel(io.MultiWriter(bw, h.Hash(), cw), gzip.DefaultCompression)
		if err == nil {
			_, err = io.CopyBuffer(gz, ahead, buf)
			if cerr := gz.Close(); err == nil {
				err = cerr
			}
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
		}
		pw.CloseWithError(err)
		compressed <- err
	}()
	loc, err = ps.c.patchUpload(ctx, loc, pr)
	pr.CloseWithError(errUploadEnded) // unblocks the compressor if the request stopped reading
	cerr := <-compressed
	switch {
	case ctx.Err() != nil:
		return BlobInfo{}, ctx.Err()
	case cerr != nil && !errors.Is(cerr, errUploadEnded):
		return BlobInfo{}, fmt.Errorf("reading layer %s: %w", u.id, cerr)
	case err != nil:
		return BlobInfo{}, err
	case cerr != nil:
		return BlobInfo{}, cerr
	}
	src.flush()
	b := BlobInfo{Digest: h.Digest(), MediaType: mediaTypeDockerLayerGzip, Size: cw.n}
	if err := ps.c.finishUpload(ctx, loc, b.Digest, nil); err != nil {
		return BlobInfo{}, err
	}
	return b, nil
}

var errUploadEnded = errors.New("the upload request ended")

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// Layer media types in both manifest flavours.
var (
	toOCI = map[string]string{
		mediaTypeDockerLayer:        ocispec.MediaTypeImageLayer,
		mediaTypeDockerLayerGzip:    ocispec.MediaTypeImageLayerGzip,
		mediaTypeDockerLayerZstd:    ocispec.MediaTypeImageLayerZstd,
		mediaTypeDockerForeignLayer: ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // its counterpart
	}
	toDocker = map[string]string{
		ocispec.MediaTypeImageLayer:                     mediaTypeDockerLayer,
		ocispec.MediaTypeImageLayerGzip:                 mediaTypeDockerLayerGzip,
		ocispec.MediaTypeImageLayerNonDistributableGzip: mediaTypeDockerForeignLayer, //nolint:staticcheck // its counterpart
	}
)

// compressionKnown reports whether a remembered blob can go in a manifest.
func compressionKnown(mediaType string) bool {
	_, d := toOCI[mediaType]
	_, o := toDocker[mediaType]
	return d || o || mediaType == ocispec.MediaTypeImageLayerZstd
}

// buildManifest writes a Docker schema2 manifest, or an OCI one when a
// layer is zstd-compressed (schema2 has no such layer type in common use).
func buildManifest(config ocispec.Descriptor, layers []ocispec.Descriptor) (string, []byte, error) {
	oci := false
	for _, l := range layers {
		if strings.HasSuffix(l.MediaType, "zstd") {
			oci = true
		}
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, Config: config}
	if oci {
		m.MediaType = ocispec.MediaTypeImageManifest
		m.Config.MediaType = ocispec.MediaTypeImageConfig
	} else {
		m.MediaType = mediaTypeDockerManifest
		m.Config.MediaType = mediaTypeDockerConfig
	}
	for _, l := range layers {
		d := ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		conv := toDocker
		if oci {
			conv = toOCI
		}
		if t, ok := conv[d.MediaType]; ok {
			d.MediaType = t
		}
		m.Layers = append(m.Layers, d)
	}
	body, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return "", nil, err
	}
	return m.MediaType, body, nil
}
