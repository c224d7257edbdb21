// Package errclass makes sentinel errors that carry an errdefs class (not
// found, conflict, ...), so that each subsystem classifies its errors where
// they arise and the API server picks the HTTP status without knowing the
// subsystem.
package errclass

import "fmt"

// New returns a sentinel error with message msg whose class is class (one
// of github.com/containerd/errdefs' Err* values): errors.Is holds both for
// the sentinel itself and for its class.
func New(msg string, class error) error { return &classed{msg: msg, class: class} }

type classed struct {
	msg   string
	class error
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// Errorf returns an error with a formatted message (the user-facing wording,
// details filled in) that still matches sentinel, and so its class.
func Errorf(sentinel error, format string, args ...any) error {
	return &classed{msg: fmt.Sprintf(format, args...), class: sentinel}
}
