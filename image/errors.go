package image

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each one carries its class (not found, invalid, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	// ErrImageNotFound: no image with that ID or prefix.
	ErrImageNotFound = errclass.New("no such image", cerrdefs.ErrNotFound)
	// ErrAmbiguousPrefix: a short ID matches more than one image.
	ErrAmbiguousPrefix = errclass.New("multiple IDs found with provided prefix", cerrdefs.ErrInvalidArgument)
	// ErrInvalidConfig: the config is not a usable image config.
	ErrInvalidConfig = errclass.New("invalid image config", cerrdefs.ErrInvalidArgument)
	// ErrLayersMissing: the layer chain the config names is not in the
	// layer store.
	ErrLayersMissing = errclass.New("image layers do not exist", cerrdefs.ErrFailedPrecondition)
)
