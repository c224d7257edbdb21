package reference

import (
	cerrdefs "github.com/containerd/errdefs"
)

// Sentinel errors. Each one carries its class (not found, conflict, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	// ErrDoesNotExist: no such reference.
	ErrDoesNotExist = classed("reference does not exist", cerrdefs.ErrNotFound)
	// ErrConflict: the digest reference points to another image.
	ErrConflict = classed("reference conflicts with an existing one", cerrdefs.ErrConflict)
	// ErrInvalidReference: a reference that cannot be stored (an ID-like
	// name, a tag with a digest, ...).
	ErrInvalidReference = classed("invalid reference", cerrdefs.ErrInvalidArgument)
)

type classedError struct {
	msg   string
	class error
}

func classed(msg string, class error) error { return &classedError{msg: msg, class: class} }
func (e *classedError) Error() string       { return e.msg }
func (e *classedError) Unwrap() error       { return e.class }
