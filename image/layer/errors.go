package layer

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each one carries its class (not found, conflict, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	// ErrLayerNotFound: no layer with that chain ID.
	ErrLayerNotFound = errclass.New("layer does not exist", cerrdefs.ErrNotFound)
	// ErrRWLayerNotFound: no read-write layer with that name.
	ErrRWLayerNotFound = errclass.New("read-write layer does not exist", cerrdefs.ErrNotFound)
	// ErrRWLayerExists: a read-write layer of that name exists already.
	ErrRWLayerExists = errclass.New("read-write layer already exists", cerrdefs.ErrConflict)
	// ErrActiveMount: the read-write layer is mounted and cannot be removed.
	ErrActiveMount = errclass.New("read-write layer is mounted", cerrdefs.ErrConflict)
	// ErrNotReferenced: Release got a Layer that is not a live reference
	// from this store (already released, or a view from Map or Parent).
	ErrNotReferenced = errclass.New("layer is not a reference held from this store", cerrdefs.ErrFailedPrecondition)
	// ErrDigestMismatch: a layer's stored tar no longer hashes to its DiffID.
	ErrDigestMismatch = errclass.New("layer content does not match its diff ID", cerrdefs.ErrDataLoss)
	// ErrDiffNotReproducible: the layer's diff cannot be reassembled from
	// the driver's copy (a later entry of the tar replaced an earlier
	// one's content); the layer is usable, not exportable.
	ErrDiffNotReproducible = errclass.New("layer's original diff cannot be reproduced", cerrdefs.ErrFailedPrecondition)
	// ErrInvalidDiff: the diff could not be applied (not a tar, truncated,
	// a path escaping the layer).
	ErrInvalidDiff = errclass.New("invalid layer diff", cerrdefs.ErrInvalidArgument)
)
