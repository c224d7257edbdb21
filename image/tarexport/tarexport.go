// Package tarexport reads and writes image archives: `docker load` (Load), `docker save`
// (Save) and `docker import` (Import).
//
// It knows nothing of how the daemon stores layers and images: it works through the small
// Store interface below, which the daemon satisfies with an adapter over its layer, image
// and reference stores.
//
// Formats read by Load:
//   - the legacy `docker save` layout: manifest.json (Config, RepoTags, Layers),
//     `<id>/layer.tar` (possibly symlinks to another layer's tar), `<id>.json`, repositories;
//   - the OCI image layout: oci-layout, index.json, blobs/<alg>/<hex> (image manifests or
//     indexes, from which the best match for the wanted platform is picked);
//   - Docker 25+'s combined layout, which holds both (manifest.json wins, as in Docker).
//
// The archive may itself be compressed (gzip, zstd, bzip2, xz), and so may every layer;
// compression is detected by magic number, never by name or media type.
//
// Save writes the combined layout, which Docker Engine 20.10 (manifest.json) and 25+ (either)
// load, as do OCI tools (index.json). Its output is a function of its input only: entries
// sorted, mtimes at the epoch, no owners.
package tarexport

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Store is what Load, Save and Import need of the daemon's image subsystem.
//
// Reference counting: every successful GetLayer or RegisterLayer hands the caller one
// reference on the layer, dropped by calling release (idempotent). A layer with no
// references that no image uses may be garbage-collected. Load holds its references until
// the images that use the layers exist, and releases them all when it fails, so a failed
// load leaves nothing behind.
type Store interface {
	// GetLayer takes a reference on the existing layer with this chain ID. It fails with an
	// error satisfying errdefs.IsNotFound if there is none.
	GetLayer(chainID digest.Digest) (release func(), err error)

	// RegisterLayer applies the uncompressed layer tar diff on top of the layer parent
	// ("" for a base layer), reading diff to its end, and returns the layer's chain ID and
	// diff ID (the sha256 of every byte of diff). Registering a layer that already exists
	// takes another reference on it. A diff that is not a valid tar is an error satisfying
	// errdefs.IsInvalidArgument.
	RegisterLayer(diff io.Reader, parent digest.Digest) (chainID, diffID digest.Digest, release func(), err error)

	// LayerTarStream returns the uncompressed tar of one layer's diff from its parent; its
	// sha256 is the layer's diff ID.
	LayerTarStream(chainID digest.Digest) (io.ReadCloser, error)

	// CreateImage stores an image config (creating an existing image is not an error) and
	// returns the image ID, which is sha256(config). The layers of the config's
	// rootfs.diff_ids exist when it is called; the image takes its own references on them.
	CreateImage(config []byte) (digest.Digest, error)

	// ImageConfig returns the config an image was created from, byte for byte.
	ImageConfig(id digest.Digest) ([]byte, error)

	// ResolveImage finds an image by reference (name[:tag], name@digest, in any form
	// reference.ParseNormalizedNamed accepts), full ID (sha256:<hex> or <hex>) or unambiguous
	// short ID. Not found is an error satisfying errdefs.IsNotFound.
	ResolveImage(refOrID string) (digest.Digest, error)

	// Tag points a tag at an image, moving it from the image it was on.
	Tag(ref reference.NamedTagged, id digest.Digest) error

	// ReferencesByName lists the references of one repository (e.g. every tag of busybox),
	// for `docker save busybox`.
	ReferencesByName(repo reference.Named) []Association
}

// Association is a reference and the image it points to.
type Association struct {
	Ref reference.Named
	ID  digest.Digest
}

// LayerSizer may also be implemented by a Store that knows the size of a layer's tar stream
// (LayerTarStream) without producing it. Save then streams layers straight to its output;
// without it, Save first copies each layer to a file under its temp dir to learn its size.
type LayerSizer interface {
	LayerTarSize(chainID digest.Digest) (int64, error)
}

// Progress is one progress report of Load. Either a layer is being read (Action, ID, Current,
// Total: the docker CLI's progress bars, {"status":Action,"id":ID,"progressDetail":{...}}),
// or Message holds one whole line of output without its newline ("Loaded image:
// busybox:latest", "Loaded image ID: sha256:…": the CLI's {"stream":Message+"\n"}).
type Progress struct {
	ID      string // the layer's short diff ID (12 hex digits)
	Action  string // "Loading layer"
	Current int64  // bytes of the layer file read so far
	Total   int64  // size of the layer file in the archive

	Message string
}

// ActionLoadingLayer is the Action of layer progress reports.
const ActionLoadingLayer = "Loading layer"

// ChainID returns the chain ID of the layer with this diff ID on top of the layer parent
// ("" for none): diffID itself for a base layer, else sha256(parent + " " + diffID).
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// invalidf returns an error classed as an invalid argument.
func invalidf(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// shortID is the 12-hex-digit form of a digest the docker CLI shows.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// isHex64 reports whether s is a 64-digit lowercase hex string (a sha256 in hex).
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == toLowerASCII(s)
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
