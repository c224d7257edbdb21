package spec

import (
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
)

// invalidParameter marks an error as an invalid-parameter error (HTTP 400 in
// the API) while keeping Docker's exact message: its Error() is the wrapped
// message, without the "invalid argument: " prefix errdefs would add.
type invalidParameter struct{ err error }

func (e invalidParameter) Error() string { return e.err.Error() }
func (e invalidParameter) Unwrap() error { return e.err }

// InvalidParameter makes the error match Moby's errdefs.IsInvalidParameter.
func (invalidParameter) InvalidParameter() {}

// Is makes errors.Is(err, errdefs.ErrInvalidArgument) true.
func (invalidParameter) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

func invalidf(format string, args ...any) error {
	return invalidParameter{fmt.Errorf(format, args...)}
}

// invalid wraps err (nil stays nil); an error already classified is kept.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	var ip invalidParameter
	if errors.As(err, &ip) {
		return err
	}
	return invalidParameter{err}
}
