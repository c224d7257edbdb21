package image

import (
	cerrdefs "github.com/containerd/errdefs"
)

// Sentinel errors. Each one carries its class (not found, invalid, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	// ErrImageNotFound: no image with that ID or prefix.
	ErrImageNotFound = classed("no such image", cerrdefs.ErrNotFound)
	// ErrAmbiguousPrefix: a short ID matches more than one image.
	ErrAmbiguousPrefix = classed("multiple IDs found with provided prefix", cerrdefs.ErrInvalidArgument)
	// ErrInvalidConfig: the config is not a usable image config.
	ErrInvalidConfig = classed("invalid image config", cerrdefs.ErrInvalidArgument)
	// ErrLayersMissing: the layer chain the config names is not in the
	// layer store.
	ErrLayersMissing = classed("image layers do not exist", cerrdefs.ErrFailedPrecondition)
)

type classedError struct {
	msg   string
	class error
}

func classed(msg string, class error) error { return &classedError{msg: msg, class: class} }
func (e *classedError) Error() string       { return e.msg }
func (e *classedError) Unwrap() error       { return e.class }
