package reference

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each one carries its class (not found, conflict, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	// ErrDoesNotExist: no such reference.
	ErrDoesNotExist = errclass.New("reference does not exist", cerrdefs.ErrNotFound)
	// ErrConflict: the digest reference points to another image.
	ErrConflict = errclass.New("reference conflicts with an existing one", cerrdefs.ErrConflict)
	// ErrInvalidReference: a reference that cannot be stored (an ID-like
	// name, a tag with a digest, ...).
	ErrInvalidReference = errclass.New("invalid reference", cerrdefs.ErrInvalidArgument)
)
