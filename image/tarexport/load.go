package tarexport

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // and sha384, sha512
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// File names of the archive formats.
const (
	manifestFileName     = "manifest.json"
	repositoriesFileName = "repositories"
	ociLayoutFileName    = ocispec.ImageLayoutFile // "oci-layout"
	ociIndexFileName     = ocispec.ImageIndexFile  // "index.json"
)

// Media types beyond the OCI ones.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

	annotationImageName = "io.containerd.image.name" // full reference, as Docker 25+ writes it
)

// maxMetadataSize bounds the JSON files (manifests, configs, indexes) read into memory.
const maxMetadataSize = 64 << 20

// LoadOptions tunes Load.
type LoadOptions struct {
	// TempDir is where the archive is unpacked, in a directory of its own removed when Load
	// returns; it should be on the same filesystem as the layers (the data root).
	// "" means os.TempDir().
	TempDir string
	// Progress, if set, receives progress reports, from the goroutine that called Load.
	Progress func(Progress)
	// Platform, if set, loads only images for that platform; unset, images of any platform
	// load, and from an OCI image index the best match for this daemon's platform is chosen.
	Platform *ocispec.Platform
}

// LoadedImage is one image Load loaded.
type LoadedImage struct {
	ID   digest.Digest
	Tags []string // familiar form: "busybox:latest"
}

// Load reads an image archive (see the package comment for the formats), registers its layers
// and images in store, and tags them. Everything is checked before anything is kept: each
// layer's diff ID against the config's rootfs.diff_ids, OCI blob digests and sizes, image IDs
// against sha256(config). A truncated, corrupt or inconsistent archive fails with an error
// satisfying errdefs.IsInvalidArgument, and leaves no layer references behind.
//
// Layers already in store are not read again (as in Docker). One large layer file that may be
// a base layer is registered while the archive is unpacked, and used if it is one (see
// speculate.go).
func Load(ctx context.Context, archive io.Reader, store Store, opts LoadOptions) ([]LoadedImage, error) {
	tmp, err := os.MkdirTemp(opts.TempDir, "berth-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	in := &inputReader{ctx: ctx, r: archive}
	dec, err := decompress(in)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, invalidf("invalid archive: %v", err)
	}
	l := &loader{ctx: ctx, root: root, store: store, opts: opts, held: map[digest.Digest]func(){}}
	defer l.releaseAll()
	l.spec = newSpeculator(l)
	defer l.spec.finish()

	decIn := &inputReader{ctx: ctx, r: dec}
	err = extract(ctx, decIn, root, l.spec)
	if err == nil {
		// Read to the end: a compressed archive's checksum is at the end.
		if _, derr := io.Copy(io.Discard, decIn); derr != nil {
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			} else {
				err = invalidf("invalid archive: %v", derr)
			}
		}
	}
	dec.Close()
	if err != nil {
		return nil, err
	}

	plans, err := l.plan()
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		if err := l.registerLayers(p); err != nil {
			return nil, err
		}
	}
	return l.commit(plans)
}

// loader is the state of one Load.
type loader struct {
	ctx   context.Context
	root  *os.Root
	store Store
	opts  LoadOptions
	held  map[digest.Digest]func() // layer references taken, by chain ID
	spec  *speculator
}

// imagePlan is one image of the archive, checked and ready to register.
type imagePlan struct {
	what    string // for messages: where in the archive the image is described
	config  []byte
	id      digest.Digest
	diffIDs []digest.Digest
	layers  []layerSource
	tags    []reference.NamedTagged
}

// layerSource is where a layer's data is in the unpacked archive.
type layerSource struct {
	path string
	blob digest.Digest // the digest the file's bytes must have, if its name says; else ""
	size int64         // the size the file must have, if a descriptor says; else -1
}

// imageConfig is the part of an image config Load checks.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
	RootFS       *struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
}

func (l *loader) progress(p Progress) {
	if l.opts.Progress != nil {
		l.opts.Progress(p)
	}
}

// plan reads the archive's metadata and checks every image in it.
func (l *loader) plan() ([]*imagePlan, error) {
	if _, err := l.root.Stat(manifestFileName); err == nil {
		return l.planDockerSave()
	}
	if _, err := l.root.Stat(ociIndexFileName); err == nil {
		return l.planOCI()
	}
	if _, err := l.root.Stat(repositoriesFileName); err == nil {
		return nil, invalidf("invalid archive: it has no manifest.json: the docker save format of Docker before 1.10 is not supported")
	}
	return nil, invalidf("invalid archive: it has neither manifest.json (docker save) nor index.json (OCI image layout)")
}

// readFile reads one small file of the unpacked archive.
func (l *loader) readFile(name string) ([]byte, error) {
	p, err := cleanArchivePath(name)
	if err != nil {
		return nil, err
	}
	f, err := l.root.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalidf("invalid archive: %s is missing", name)
		}
		return nil, invalidf("invalid archive: %v", err)
	}
	defer f.Close()
	b, err := readFull(f, maxMetadataSize)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, invalidf("invalid archive: %s is larger than %d bytes", name, maxMetadataSize)
		}
		return nil, invalidf("invalid archive: reading %s: %v", name, err)
	}
	return b, nil
}

// checkLayerFile checks a layer file is there and returns its source.
func (l *loader) checkLayerFile(name string, blob digest.Digest, size int64) (layerSource, error) {
	p, err := cleanArchivePath(name)
	if err != nil {
		return layerSource{}, err
	}
	fi, err := l.root.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return layerSource{}, invalidf("invalid archive: layer %s is missing", name)
		}
		return layerSource{}, invalidf("invalid archive: layer %s: %v", name, err)
	}
	if !fi.Mode().IsRegular() {
		return layerSource{}, invalidf("invalid archive: layer %s is not a file", name)
	}
	if size >= 0 && fi.Size() != size {
		return layerSource{}, invalidf("invalid archive: layer %s has %d bytes, its descriptor says %d", name, fi.Size(), size)
	}
	return layerSource{path: p, blob: blob, size: size}, nil
}

// digestFromPath returns the digest a file's name claims for its content: blobs/<alg>/<hex>
// in both layouts, <hex>.json for configs in the legacy one. "" if none.
func digestFromPath(name string) digest.Digest {
	p, err := cleanArchivePath(name)
	if err != nil {
		return ""
	}
	parts := strings.Split(p, "/")
	if len(parts) == 3 && parts[0] == "blobs" {
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
		if d.Validate() == nil {
			return d
		}
		return ""
	}
	if len(parts) == 1 && strings.HasSuffix(p, ".json") && isHex64(strings.TrimSuffix(p, ".json")) {
		return digest.NewDigestFromEncoded(digest.SHA256, strings.TrimSuffix(p, ".json"))
	}
	return ""
}

// checkConfig parses and checks an image config.
func (l *loader) checkConfig(what string, config []byte) (imageConfig, error) {
	var c imageConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return c, invalidf("invalid archive: %s: invalid image config: %v", what, err)
	}
	if c.RootFS == nil {
		return c, invalidf("invalid archive: %s: invalid image config: it has no rootfs", what)
	}
	if c.RootFS.Type != "layers" {
		return c, invalidf("invalid archive: %s: invalid image config: rootfs type %q, not \"layers\"", what, c.RootFS.Type)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return c, invalidf("invalid archive: %s: invalid image config: diff ID %q: %v", what, d, err)
		}
	}
	if c.OS != "" && c.OS != runtime.GOOS {
		return c, invalidf("cannot load %s image on %s", c.OS, runtime.GOOS)
	}
	return c, nil
}

// wantPlatform reports whether an image of this config is to be loaded.
func (l *loader) wantPlatform(c imageConfig) bool {
	if l.opts.Platform == nil {
		return true
	}
	return platform.Score(*l.opts.Platform, ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}) > 0
}

// manifestItem is one entry of a docker save manifest.json.
type manifestItem struct {
	Config       string
	RepoTags     []string
	Layers       []string
	Parent       string                               `json:",omitempty"`
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

func (l *loader) planDockerSave() ([]*imagePlan, error) {
	b, err := l.readFile(manifestFileName)
	if err != nil {
		return nil, err
	}
	var items []manifestItem
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, invalidf("invalid archive: invalid manifest.json: %v", err)
	}
	if items == nil {
		return nil, invalidf("invalid archive: invalid manifest.json: it is null")
	}
	var plans []*imagePlan
	for i, m := range items {
		what := fmt.Sprintf("manifest.json entry %d", i)
		if m.Config == "" {
			return nil, invalidf("invalid archive: %s has no Config", what)
		}
		config, err := l.readFile(m.Config)
		if err != nil {
			return nil, err
		}
		id := digest.FromBytes(config)
		if want := digestFromPath(m.Config); want != "" && want != id {
			return nil, invalidf("invalid archive: %s: config %s has digest %s", what, m.Config, id)
		}
		c, err := l.checkConfig(what, config)
		if err != nil {
			return nil, err
		}
		if !l.wantPlatform(c) {
			continue
		}
		if len(m.Layers) != len(c.RootFS.DiffIDs) {
			return nil, invalidf("invalid archive: %s: %d layers, but the config has %d diff IDs", what, len(m.Layers), len(c.RootFS.DiffIDs))
		}
		p := &imagePlan{what: what, config: config, id: id, diffIDs: c.RootFS.DiffIDs}
		for _, name := range m.Layers {
			src, err := l.checkLayerFile(name, digestFromPath(name), -1)
			if err != nil {
				return nil, err
			}
			p.layers = append(p.layers, src)
		}
		for _, t := range m.RepoTags {
			named, err := reference.ParseNormalizedNamed(t)
			if err != nil {
				return nil, invalidf("invalid archive: %s: invalid tag %q: %v", what, t, err)
			}
			tagged, ok := named.(reference.NamedTagged)
			if !ok {
				return nil, invalidf("invalid archive: %s: invalid tag %q: not name:tag", what, t)
			}
			p.tags = appendTag(p.tags, tagged)
		}
		plans = append(plans, p)
	}
	return mergePlans(plans), nil
}

func appendTag(tags []reference.NamedTagged, t reference.NamedTagged) []reference.NamedTagged {
	for _, have := range tags {
		if have.String() == t.String() {
			return tags
		}
	}
	return append(tags, t)
}

// mergePlans merges the plans of the same image (several entries, or OCI descriptors, for
// one image under different tags), keeping the first one's layers.
func mergePlans(plans []*imagePlan) []*imagePlan {
	byID := map[digest.Digest]*imagePlan{}
	var out []*imagePlan
	for _, p := range plans {
		if first, ok := byID[p.id]; ok {
			for _, t := range p.tags {
				first.tags = appendTag(first.tags, t)
			}
			continue
		}
		byID[p.id] = p
		out = append(out, p)
	}
	return out
}

// readBlob reads a small blob of an OCI layout and checks it against its descriptor.
func (l *loader) readBlob(desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, invalidf("invalid archive: invalid digest %q: %v", desc.Digest, err)
	}
	if desc.Size > maxMetadataSize {
		return nil, invalidf("invalid archive: blob %s is larger than %d bytes", desc.Digest, maxMetadataSize)
	}
	name := blobPath(desc.Digest)
	b, err := l.readFile(name)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != desc.Size {
		return nil, invalidf("invalid archive: blob %s has %d bytes, its descriptor says %d", desc.Digest, len(b), desc.Size)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, invalidf("invalid archive: blob %s has digest %s", desc.Digest, got)
	}
	return b, nil
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

func (l *loader) planOCI() ([]*imagePlan, error) {
	if b, err := l.root.ReadFile(ociLayoutFileName); err == nil {
		var layout ocispec.ImageLayout
		if err := json.Unmarshal(b, &layout); err != nil {
			return nil, invalidf("invalid archive: invalid oci-layout: %v", err)
		}
		if layout.Version != "" && !strings.HasPrefix(layout.Version, "1.") {
			return nil, invalidf("invalid archive: unsupported OCI image layout version %q", layout.Version)
		}
	}
	b, err := l.readFile(ociIndexFileName)
	if err != nil {
		return nil, err
	}
	var index ocispec.Index
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, invalidf("invalid archive: invalid index.json: %v", err)
	}
	var plans []*imagePlan
	for _, desc := range index.Manifests {
		if desc.Platform != nil && l.opts.Platform != nil && platform.Score(*l.opts.Platform, *desc.Platform) == 0 {
			continue
		}
		tag, err := tagFromAnnotations(desc.Annotations)
		if err != nil {
			return nil, err
		}
		p, err := l.planOCIDescriptor(desc, 0)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if tag != nil {
			p.tags = appendTag(p.tags, tag)
		}
		plans = append(plans, p)
	}
	return mergePlans(plans), nil
}

// tagFromAnnotations returns the tag an index.json entry gives its image: the full reference
// of io.containerd.image.name (Docker 25+, containerd), else org.opencontainers.image.ref.name
// if it is a full reference (as skopeo writes it) rather than a bare tag, which names nothing.
func tagFromAnnotations(a map[string]string) (reference.NamedTagged, error) {
	name := a[annotationImageName]
	if name == "" {
		name = a[ocispec.AnnotationRefName]
		if !strings.ContainsAny(name, "/:@") {
			return nil, nil
		}
	}
	if name == "" {
		return nil, nil
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, invalidf("invalid archive: invalid image name %q in index.json: %v", name, err)
	}
	if _, ok := named.(reference.Canonical); ok {
		if _, ok := named.(reference.NamedTagged); !ok {
			return nil, nil // name@digest: not a tag
		}
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, nil
	}
	// Drop a digest next to the tag.
	t, err := reference.WithTag(reference.TrimNamed(tagged), tagged.Tag())
	if err != nil {
		return nil, invalidf("invalid archive: invalid image name %q in index.json: %v", name, err)
	}
	return t, nil
}

const maxIndexDepth = 4

// planOCIDescriptor follows a descriptor of index.json to an image: an image manifest, or an
// index in which it picks the manifest for the platform. nil if there is nothing to load.
func (l *loader) planOCIDescriptor(desc ocispec.Descriptor, depth int) (*imagePlan, error) {
	if depth > maxIndexDepth {
		return nil, invalidf("invalid archive: image indexes nested more than %d deep", maxIndexDepth)
	}
	b, err := l.readBlob(desc)
	if err != nil {
		return nil, err
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		var probe struct {
			MediaType string            `json:"mediaType"`
			Manifests []json.RawMessage `json:"manifests"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, invalidf("invalid archive: blob %s: %v", desc.Digest, err)
		}
		mediaType = probe.MediaType
		if mediaType == "" && probe.Manifests != nil {
			mediaType = ocispec.MediaTypeImageIndex
		} else if mediaType == "" {
			mediaType = ocispec.MediaTypeImageManifest
		}
	}
	switch mediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return l.planOCIManifest(desc, b)
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		var index ocispec.Index
		if err := json.Unmarshal(b, &index); err != nil {
			return nil, invalidf("invalid archive: image index %s: %v", desc.Digest, err)
		}
		want := platform.Default()
		if l.opts.Platform != nil {
			want = *l.opts.Platform
		}
		best, bestScore := -1, 0
		for i, m := range index.Manifests {
			if m.Platform == nil || m.Annotations["vnd.docker.reference.type"] != "" {
				continue // attestations and the like
			}
			if s := platform.Score(want, *m.Platform); s > bestScore {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("image index %s has no image for platform %s", desc.Digest, platformString(want)))
		}
		return l.planOCIDescriptor(index.Manifests[best], depth+1)
	default:
		return nil, invalidf("invalid archive: descriptor %s has unsupported media type %q", desc.Digest, mediaType)
	}
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func (l *loader) planOCIManifest(desc ocispec.Descriptor, b []byte) (*imagePlan, error) {
	what := "manifest " + desc.Digest.String()
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalidf("invalid archive: %s: %v", what, err)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, mediaTypeDockerConfig, "":
	default:
		return nil, invalidf("invalid archive: %s: config has unsupported media type %q (not a container image)", what, m.Config.MediaType)
	}
	config, err := l.readBlob(m.Config)
	if err != nil {
		return nil, err
	}
	c, err := l.checkConfig(what, config)
	if err != nil {
		return nil, err
	}
	if !l.wantPlatform(c) {
		return nil, nil
	}
	if len(m.Layers) != len(c.RootFS.DiffIDs) {
		return nil, invalidf("invalid archive: %s: %d layers, but the config has %d diff IDs", what, len(m.Layers), len(c.RootFS.DiffIDs))
	}
	p := &imagePlan{what: what, config: config, id: digest.FromBytes(config), diffIDs: c.RootFS.DiffIDs}
	for _, ld := range m.Layers {
		switch ld.MediaType {
		case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
			ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still found in the wild
			ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
			mediaTypeDockerLayer, mediaTypeDockerLayerGzip, mediaTypeDockerForeignLayer:
		default:
			return nil, invalidf("invalid archive: %s: layer %s has unsupported media type %q", what, ld.Digest, ld.MediaType)
		}
		if err := ld.Digest.Validate(); err != nil {
			return nil, invalidf("invalid archive: %s: invalid layer digest %q: %v", what, ld.Digest, err)
		}
		src, err := l.checkLayerFile(blobPath(ld.Digest), ld.Digest, ld.Size)
		if err != nil {
			return nil, err
		}
		p.layers = append(p.layers, src)
	}
	return p, nil
}

// registerLayers makes sure every layer of an image is in the store, holding a reference on
// each until the end of the load.
func (l *loader) registerLayers(p *imagePlan) error {
	var parent digest.Digest
	for i, diffID := range p.diffIDs {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		chain := ChainID(parent, diffID)
		if _, ok := l.held[chain]; !ok && parent == "" {
			if release, ok := l.spec.take(p, i); ok {
				l.held[chain] = release
				l.reportLoaded(p, i)
			}
		}
		if _, ok := l.held[chain]; !ok {
			release, err := l.store.GetLayer(chain)
			switch {
			case err == nil:
				l.held[chain] = release
			case errdefs.IsNotFound(err):
				if err := l.registerLayer(p, i, parent, chain); err != nil {
					return err
				}
			default:
				return err
			}
		}
		parent = chain
	}
	return nil
}

func (l *loader) registerLayer(p *imagePlan, i int, parent, wantChain digest.Digest) error {
	src := p.layers[i]
	wantDiffID := p.diffIDs[i]
	f, err := l.root.Open(src.path)
	if err != nil {
		return invalidf("invalid archive: layer %s: %v", src.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}

	pr := &progressReader{r: f, total: fi.Size(), id: shortID(wantDiffID), report: l.opts.Progress}
	var raw io.Reader = pr
	var blobHash hash.Hash
	if src.blob != "" && src.blob != wantDiffID {
		if !src.blob.Algorithm().Available() {
			return invalidf("invalid archive: layer %s: unsupported digest algorithm", src.blob)
		}
		blobHash = src.blob.Algorithm().Hash()
		raw = io.TeeReader(pr, blobHash)
	}
	pr.start()
	in := &inputReader{ctx: l.ctx, r: raw}
	dec, err := decompress(in)
	if err != nil {
		return l.layerInputError(p, i, in, err)
	}
	defer dec.Close()
	if src.blob != "" && src.blob == wantDiffID && dec.compressed {
		// Its name is the digest of its uncompressed content: it cannot be compressed.
		return invalidf("invalid archive: %s: layer %s is compressed but named after its uncompressed digest", p.what, src.path)
	}

	decIn := &inputReader{ctx: l.ctx, r: dec}
	chain, diffID, release, err := l.store.RegisterLayer(decIn, parent)
	if release != nil {
		if _, ok := l.held[chain]; ok || chain == "" {
			release() // a layer of this load already: the first reference is enough
		} else {
			l.held[chain] = release
		}
	}
	if err != nil {
		if in.failed() != nil || decIn.failed() != nil {
			return l.layerInputError(p, i, in, firstErr(decIn.failed(), err))
		}
		return fmt.Errorf("registering layer %s: %w", shortID(wantDiffID), err)
	}
	if _, derr := io.Copy(io.Discard, decIn); derr != nil {
		return l.layerInputError(p, i, in, derr)
	}
	if derr := dec.drainSource(); derr != nil {
		return l.layerInputError(p, i, in, derr)
	}
	pr.finish()
	if diffID != wantDiffID {
		return invalidf("invalid archive: %s: layer %d (%s) has diff ID %s, the config says %s", p.what, i, src.path, diffID, wantDiffID)
	}
	if blobHash != nil {
		if got := digest.NewDigest(src.blob.Algorithm(), blobHash); got != src.blob {
			return invalidf("invalid archive: %s: blob %s has digest %s", p.what, src.blob, got)
		}
	}
	if src.size >= 0 && pr.n != src.size {
		return invalidf("invalid archive: %s: blob %s has %d bytes, its descriptor says %d", p.what, src.blob, pr.n, src.size)
	}
	if chain != wantChain {
		return fmt.Errorf("registering layer %s: the store gave chain ID %s, expected %s", shortID(wantDiffID), chain, wantChain)
	}
	return nil
}

// reportLoaded reports a layer registered while the archive was unpacked as read whole.
func (l *loader) reportLoaded(p *imagePlan, i int) {
	fi, err := l.root.Stat(p.layers[i].path)
	if err != nil {
		return
	}
	pr := &progressReader{total: fi.Size(), n: fi.Size(), id: shortID(p.diffIDs[i]), report: l.opts.Progress}
	pr.start()
	pr.finish()
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) layerInputError(p *imagePlan, i int, in *inputReader, err error) error {
	if cerr := l.ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return invalidf("invalid archive: %s: layer %d (%s): %v", p.what, i, p.layers[i].path, err)
}

// commit creates and tags the images, whose layers are all registered.
func (l *loader) commit(plans []*imagePlan) ([]LoadedImage, error) {
	var loaded []LoadedImage
	for _, p := range plans {
		if err := l.ctx.Err(); err != nil {
			return loaded, err
		}
		id, err := l.store.CreateImage(p.config)
		if err != nil {
			return loaded, fmt.Errorf("creating image %s: %w", p.id, err)
		}
		if id != p.id {
			return loaded, fmt.Errorf("creating image: the store gave ID %s, expected %s", id, p.id)
		}
		li := LoadedImage{ID: id}
		for _, t := range p.tags {
			if prev, err := l.store.ResolveImage(t.String()); err == nil && prev != id {
				l.progress(Progress{Message: fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", reference.FamiliarString(t), prev)})
			}
			if err := l.store.Tag(t, id); err != nil {
				return loaded, fmt.Errorf("tagging %s: %w", reference.FamiliarString(t), err)
			}
			li.Tags = append(li.Tags, reference.FamiliarString(t))
			l.progress(Progress{Message: "Loaded image: " + reference.FamiliarString(t)})
		}
		if len(p.tags) == 0 {
			l.progress(Progress{Message: "Loaded image ID: " + id.String()})
		}
		loaded = append(loaded, li)
	}
	return loaded, nil
}

func (l *loader) releaseAll() {
	for chain, release := range l.held {
		release()
		delete(l.held, chain)
	}
}

// progressReader counts the bytes read of a layer file and reports them, at most every
// progressEvery bytes and progressInterval.
type progressReader struct {
	r        io.Reader
	n        int64
	total    int64
	id       string
	report   func(Progress)
	lastN    int64
	lastTime time.Time
}

const (
	progressEvery    = 512 << 10
	progressInterval = 100 * time.Millisecond
)

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.report != nil && p.n-p.lastN >= progressEvery {
		if now := time.Now(); now.Sub(p.lastTime) >= progressInterval {
			p.lastN, p.lastTime = p.n, now
			p.report(Progress{ID: p.id, Action: ActionLoadingLayer, Current: p.n, Total: p.total})
		}
	}
	return n, err
}

func (p *progressReader) start() {
	if p.report != nil {
		p.lastTime = time.Now()
		p.report(Progress{ID: p.id, Action: ActionLoadingLayer, Current: 0, Total: p.total})
	}
}

func (p *progressReader) finish() {
	if p.report != nil {
		p.lastN = p.n
		p.report(Progress{ID: p.id, Action: ActionLoadingLayer, Current: p.n, Total: p.total})
	}
}
