// Package image is the image store: image configs addressed by their
// digest (the image ID), the layer chain each image holds in the layer
// store, local parent links (build and commit history) and per-image
// metadata such as the last tag time.
package image

import (
	"encoding/json"
	"fmt"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/image/layer"
)

// ID is an image's ID: the digest of its config JSON bytes.
type ID digest.Digest

// String returns "sha256:<hex>".
func (id ID) String() string { return string(id) }

// Digest returns the ID as a digest.
func (id ID) Digest() digest.Digest { return digest.Digest(id) }

// IDFromDigest converts a digest to an ID.
func IDFromDigest(d digest.Digest) ID { return ID(d) }

// Image is a stored image: its config, parsed, and what the store knows
// about it. Images returned by the Store are shared snapshots: treat them
// (the config's slices and maps included) as read-only.
type Image struct {
	// DockerOCIImage is the parsed config: Created, Author, platform,
	// Config (Env, Cmd, Labels, ...), RootFS, History.
	dockerspec.DockerOCIImage

	// Legacy Docker config fields that the OCI structs do not carry.
	Comment       string `json:"-"`
	DockerVersion string `json:"-"`
	Container     string `json:"-"`

	// ID is the digest of the raw config.
	ID ID `json:"-"`
	// Parent is the local parent image (set by build and commit), "" if
	// none.
	Parent ID `json:"-"`
	// ChainID names the image's top layer in the layer store, "" for an
	// image without layers.
	ChainID layer.ChainID `json:"-"`
	// Size is the content size of all the image's layers.
	Size int64 `json:"-"`
	// LastUpdated is when the image was last tagged (Metadata.LastTagTime),
	// zero if never.
	LastUpdated time.Time `json:"-"`

	raw []byte
}

// RawJSON returns the config exactly as it was created: its digest is the
// ID. Do not modify it.
func (img *Image) RawJSON() []byte { return img.raw }

// DiffIDs returns the diff IDs of the image's layers, bottom first.
func (img *Image) DiffIDs() []layer.DiffID {
	ids := make([]layer.DiffID, len(img.RootFS.DiffIDs))
	for i, d := range img.RootFS.DiffIDs {
		ids[i] = layer.DiffID(d)
	}
	return ids
}

// legacyFields are the parts of a Docker config outside the OCI structs.
type legacyFields struct {
	Comment       string `json:"comment,omitempty"`
	DockerVersion string `json:"docker_version,omitempty"`
	Container     string `json:"container,omitempty"`
}

// Parse validates config and returns the image it describes, with ID and
// ChainID computed (Parent, Size and LastUpdated are the store's). The
// config must be a JSON object whose rootfs.type is "layers" and whose
// rootfs.diff_ids are valid digests.
func Parse(config []byte) (*Image, error) {
	img := &Image{ID: ID(digest.FromBytes(config)), raw: config}
	if err := json.Unmarshal(config, &img.DockerOCIImage); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var legacy legacyFields
	if err := json.Unmarshal(config, &legacy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	img.Comment, img.DockerVersion, img.Container = legacy.Comment, legacy.DockerVersion, legacy.Container
	if img.RootFS.Type != "layers" {
		return nil, fmt.Errorf("%w: rootfs type %q, want \"layers\"", ErrInvalidConfig, img.RootFS.Type)
	}
	for i, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("%w: diff_ids[%d]: %w", ErrInvalidConfig, i, err)
		}
	}
	img.ChainID = layer.CreateChainID(img.DiffIDs())
	return img, nil
}
