package tarexport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// ImportOptions tunes Import.
type ImportOptions struct {
	// Changes are Dockerfile instructions applied to the image's config, as with
	// `docker import --change`: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
	// STOPSIGNAL, USER, VOLUME, WORKDIR.
	Changes []string
	// Message is the image's comment and its history entry's (docker import --message).
	// Docker's API sets "Imported from <src>" when the client gives none.
	Message string
	// Platform is the image's platform; nil means this daemon's. Its OS must be this daemon's.
	Platform *ocispec.Platform
	// Tag, if set, is pointed at the new image.
	Tag reference.NamedTagged
}

// importConfig is the config Import writes: an OCI image config with Docker's extensions
// and its comment.
type importConfig struct {
	dockerspec.DockerOCIImage
	Comment string `json:"comment,omitempty"`
}

// Import registers the tar src (uncompressed, or gzip, zstd, bzip2 or xz) as the one layer of
// a new image and returns the image's ID. The config has the platform, the time of the
// import, a history entry with the message, and the changes.
func Import(ctx context.Context, src io.Reader, store Store, opts ImportOptions) (digest.Digest, error) {
	var cfg dockerspec.DockerOCIImageConfig
	if err := ApplyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	plat := platform.Default()
	if opts.Platform != nil {
		plat = *opts.Platform
		if plat.OS == "" {
			plat.OS = runtime.GOOS
		}
		if plat.Architecture == "" {
			plat.Architecture = platform.Default().Architecture
		}
	}
	if plat.OS != runtime.GOOS {
		return "", invalidf("cannot import a %s image on %s", plat.OS, runtime.GOOS)
	}

	in := &inputReader{ctx: ctx, r: src}
	dec, err := decompress(in)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", cerr
		}
		return "", invalidf("invalid import source: %v", err)
	}
	defer dec.Close()
	decIn := &inputReader{ctx: ctx, r: dec}
	_, diffID, release, err := store.RegisterLayer(decIn, "")
	if release != nil {
		defer release()
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", cerr
		}
		if ierr := firstErr(in.failed(), decIn.failed()); ierr != nil {
			return "", invalidf("invalid import source: %v", ierr)
		}
		return "", fmt.Errorf("importing: %w", err)
	}

	created := time.Now().UTC()
	img := importConfig{Comment: opts.Message}
	img.Created = &created
	img.Platform = ocispec.Platform{OS: plat.OS, Architecture: plat.Architecture, Variant: plat.Variant, OSVersion: plat.OSVersion}
	img.Config = cfg
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}
	img.History = []ocispec.History{{Created: &created, Comment: opts.Message}}
	config, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	id, err := store.CreateImage(config)
	if err != nil {
		return "", fmt.Errorf("creating image: %w", err)
	}
	if opts.Tag != nil {
		if err := store.Tag(opts.Tag, id); err != nil {
			return id, fmt.Errorf("tagging %s: %w", reference.FamiliarString(opts.Tag), err)
		}
	}
	return id, nil
}
