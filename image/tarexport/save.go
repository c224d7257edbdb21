package tarexport

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SaveOptions tunes Save.
type SaveOptions struct {
	// TempDir is where layers are copied to learn their sizes when the Store is not a
	// LayerSizer, in a directory of its own removed when Save returns. "" means os.TempDir().
	TempDir string
}

// ociLayoutContent is oci-layout, as Docker writes it.
const ociLayoutContent = `{"imageLayoutVersion": "` + ocispec.ImageLayoutVersion + `"}`

// epoch is the mtime of every entry Save writes.
var epoch = time.Unix(0, 0)

// saveImage is one image to save.
type saveImage struct {
	id     digest.Digest
	tags   []reference.NamedTagged
	config []byte
	cfg    imageConfig
	chains []digest.Digest // chain IDs of its layers, bottom to top
}

// saveLayer is one distinct layer to save, named by its diff ID.
type saveLayer struct {
	diffID digest.Digest
	chain  digest.Digest
	size   int64
	spool  string // the file holding its tar, if it was copied
}

// Save writes the images named by names to w, as a tar archive in Docker 25+'s layout:
// oci-layout, index.json (one entry per tag, naming it with the io.containerd.image.name and
// org.opencontainers.image.ref.name annotations, one without a name for an image saved by ID),
// blobs/sha256/ (configs, OCI manifests and uncompressed layer tars, each stored once),
// manifest.json (Config, RepoTags and Layers pointing into blobs/) and repositories.
//
// A name is a reference (busybox:latest; a bare repository name saves all its tags), or an
// image ID, full or short, which saves the image without tags. The output is a function of
// the images and names only: saving what a save loaded gives the same bytes.
func Save(ctx context.Context, w io.Writer, store Store, names []string, opts SaveOptions) error {
	images, err := selectImages(store, names)
	if err != nil {
		return err
	}

	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	layers := map[digest.Digest]*saveLayer{}
	var layerOrder []*saveLayer
	for _, img := range images {
		config, err := store.ImageConfig(img.id)
		if err != nil {
			return fmt.Errorf("reading the config of image %s: %w", img.id, err)
		}
		if got := digest.FromBytes(config); got != img.id {
			return fmt.Errorf("the config of image %s has digest %s", img.id, got)
		}
		img.config = config
		if err := json.Unmarshal(config, &img.cfg); err != nil || img.cfg.RootFS == nil {
			return fmt.Errorf("image %s has an invalid config (%v)", img.id, err)
		}
		var parent digest.Digest
		for _, diffID := range img.cfg.RootFS.DiffIDs {
			chain := ChainID(parent, diffID)
			img.chains = append(img.chains, chain)
			if _, ok := layers[diffID]; !ok {
				sl := &saveLayer{diffID: diffID, chain: chain, size: -1}
				layers[diffID] = sl
				layerOrder = append(layerOrder, sl)
			}
			parent = chain
		}
		if len(img.chains) > 0 {
			// Hold the layers (the top one holds the rest) while they are saved.
			release, err := store.GetLayer(img.chains[len(img.chains)-1])
			if err != nil {
				return fmt.Errorf("image %s: %w", img.id, err)
			}
			releases = append(releases, release)
		}
	}

	// Layer sizes must be known before the manifests, and so the tar headers, are written.
	sizer, _ := store.(LayerSizer)
	if sizer != nil {
		for _, sl := range layerOrder {
			if sl.size, err = sizer.LayerTarSize(sl.chain); err != nil {
				return fmt.Errorf("layer %s: %w", sl.diffID, err)
			}
		}
	} else if len(layerOrder) > 0 {
		tmp, err := os.MkdirTemp(opts.TempDir, "berth-save-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		buf := make([]byte, bufSize)
		for _, sl := range layerOrder {
			if err := spoolLayer(ctx, store, sl, filepath.Join(tmp, sl.diffID.Encoded()), buf); err != nil {
				return err
			}
		}
	}

	// The metadata.
	blobs := map[digest.Digest][]byte{}
	var index []ocispec.Descriptor
	var manifest []manifestItem
	repos := map[string]map[string]string{}
	for _, img := range images {
		blobs[img.id] = img.config
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.id, Size: int64(len(img.config))},
			Layers:    []ocispec.Descriptor{},
		}
		item := manifestItem{Config: blobPath(img.id), Layers: []string{}}
		for _, diffID := range img.cfg.RootFS.DiffIDs {
			sl := layers[diffID]
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: sl.size})
			item.Layers = append(item.Layers, blobPath(diffID))
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return err
		}
		md := digest.FromBytes(mb)
		blobs[md] = mb
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
		if img.cfg.OS != "" || img.cfg.Architecture != "" {
			desc.Platform = &ocispec.Platform{OS: img.cfg.OS, Architecture: img.cfg.Architecture, Variant: img.cfg.Variant}
		}
		for _, t := range img.tags {
			d := desc
			d.Annotations = map[string]string{
				annotationImageName:       t.String(),
				ocispec.AnnotationRefName: t.Tag(),
			}
			index = append(index, d)
			item.RepoTags = append(item.RepoTags, reference.FamiliarString(t))
			if n := len(img.cfg.RootFS.DiffIDs); n > 0 {
				name := reference.FamiliarName(t)
				if repos[name] == nil {
					repos[name] = map[string]string{}
				}
				repos[name][t.Tag()] = img.cfg.RootFS.DiffIDs[n-1].Encoded()
			}
		}
		if len(img.tags) == 0 {
			index = append(index, desc)
		}
		manifest = append(manifest, item)
	}
	indexJSON, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: index,
	})
	if err != nil {
		return err
	}
	manifestJSON, err := jsonLine(manifest)
	if err != nil {
		return err
	}
	var reposJSON []byte
	if len(repos) > 0 {
		if reposJSON, err = jsonLine(repos); err != nil {
			return err
		}
	}

	// The archive, in sorted order.
	type blobEntry struct {
		d     digest.Digest
		data  []byte
		layer *saveLayer
	}
	var entries []blobEntry
	for d, b := range blobs {
		entries = append(entries, blobEntry{d: d, data: b})
	}
	for _, sl := range layerOrder {
		if _, ok := blobs[sl.diffID]; !ok {
			entries = append(entries, blobEntry{d: sl.diffID, layer: sl})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].d < entries[j].d })

	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tar.NewWriter(bw)
	dirs := []string{"blobs/"}
	for _, e := range entries {
		if dir := "blobs/" + e.d.Algorithm().String() + "/"; !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	buf := make([]byte, bufSize)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.layer == nil {
			if err := writeFile(tw, blobPath(e.d), e.data); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobPath(e.d), Mode: 0o644, Size: e.layer.size, ModTime: epoch}); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := writeLayer(ctx, tw, store, e.layer, buf); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{ociIndexFileName, indexJSON},
		{manifestFileName, manifestJSON},
		{ociLayoutFileName, []byte(ociLayoutContent)},
		{repositoriesFileName, reposJSON},
	} {
		if f.data == nil {
			continue
		}
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// jsonLine encodes v as json.Encoder does (with a newline), as Docker writes manifest.json
// and repositories.
func jsonLine(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// spoolLayer copies a layer's tar to a file, checking its diff ID, to learn its size.
func spoolLayer(ctx context.Context, store Store, sl *saveLayer, file string, buf []byte) error {
	rc, err := store.LayerTarStream(sl.chain)
	if err != nil {
		return fmt.Errorf("layer %s: %w", sl.diffID, err)
	}
	defer rc.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	h := sl.diffID.Algorithm().Hash()
	n, err := copyBuffer(io.MultiWriter(f, h), &inputReader{ctx: ctx, r: rc}, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("layer %s: %w", sl.diffID, err)
	}
	if err := checkDiffID(sl, h); err != nil {
		return err
	}
	sl.size, sl.spool = n, file
	return nil
}

func checkDiffID(sl *saveLayer, h hash.Hash) error {
	if got := digest.NewDigest(sl.diffID.Algorithm(), h); got != sl.diffID {
		return fmt.Errorf("layer %s: its tar stream has digest %s", sl.diffID, got)
	}
	return nil
}

// writeLayer writes a layer's tar into the archive, from its spool file or from the store.
func writeLayer(ctx context.Context, tw *tar.Writer, store Store, sl *saveLayer, buf []byte) error {
	if sl.spool != "" {
		f, err := os.Open(sl.spool)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = copyBuffer(tw, &inputReader{ctx: ctx, r: f}, buf)
		return err
	}
	rc, err := store.LayerTarStream(sl.chain)
	if err != nil {
		return fmt.Errorf("layer %s: %w", sl.diffID, err)
	}
	defer rc.Close()
	h := sl.diffID.Algorithm().Hash()
	n, err := copyBuffer(io.MultiWriter(tw, h), &inputReader{ctx: ctx, r: rc}, buf)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("layer %s: its tar stream is longer than the %d bytes the store said", sl.diffID, sl.size)
		}
		return fmt.Errorf("layer %s: %w", sl.diffID, err)
	}
	if n != sl.size {
		return fmt.Errorf("layer %s: its tar stream has %d bytes, the store said %d", sl.diffID, n, sl.size)
	}
	return checkDiffID(sl, h)
}

// selectImages resolves the names given to Save, in order, each image once.
func selectImages(store Store, names []string) ([]*saveImage, error) {
	if len(names) == 0 {
		return nil, invalidf("no images to save")
	}
	byID := map[digest.Digest]*saveImage{}
	var out []*saveImage
	add := func(id digest.Digest, tag reference.NamedTagged) {
		img := byID[id]
		if img == nil {
			img = &saveImage{id: id}
			byID[id] = img
			out = append(out, img)
		}
		if tag != nil {
			img.tags = appendTag(img.tags, tag)
		}
	}
	resolve := func(name string) (digest.Digest, error) {
		id, err := store.ResolveImage(name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return id, nil
	}
	for _, name := range names {
		ref, err := reference.ParseAnyReference(name)
		if err != nil {
			return nil, invalidf("invalid reference %q: %v", name, err)
		}
		named, ok := ref.(reference.Named)
		if !ok || reference.FamiliarName(named) == string(digest.SHA256) {
			// An image ID.
			id, err := resolve(name)
			if err != nil {
				return nil, err
			}
			add(id, nil)
			continue
		}
		if reference.IsNameOnly(named) {
			var tagged []Association
			for _, a := range store.ReferencesByName(named) {
				if _, ok := a.Ref.(reference.NamedTagged); ok {
					tagged = append(tagged, a)
				}
			}
			if len(tagged) > 0 {
				sort.Slice(tagged, func(i, j int) bool { return tagged[i].Ref.String() < tagged[j].Ref.String() })
				for _, a := range tagged {
					add(a.ID, a.Ref.(reference.NamedTagged))
				}
				continue
			}
			id, err := resolve(name) // a short ID looks like a name
			if err != nil {
				return nil, err
			}
			add(id, nil)
			continue
		}
		id, err := resolve(name)
		if err != nil {
			return nil, err
		}
		if t, ok := named.(reference.NamedTagged); ok {
			if _, digested := named.(reference.Canonical); !digested {
				add(id, t)
				continue
			}
		}
		add(id, nil)
	}
	return out, nil
}
