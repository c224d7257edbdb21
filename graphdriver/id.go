package graphdriver

import (
	"errors"
	"fmt"
	"strings"
)

// More sentinel errors, shared by the drivers.
var (
	// ErrInvalidID: a layer ID that cannot name a directory safely.
	ErrInvalidID = errors.New("invalid layer id")
	// ErrLayerInUse: the layer is mounted (Get without its Put) and
	// cannot be removed.
	ErrLayerInUse = errors.New("layer is in use")
	// ErrParentMismatch: a diff operation named a parent that is not the
	// layer's parent and the driver cannot work against another one.
	ErrParentMismatch = errors.New("not the layer's parent")
)

// MaxIDLength bounds layer IDs so that overlay mount data stays within a
// page (Docker's IDs are 64 hex digits, plus "-init" for init layers).
const MaxIDLength = 128

// CheckID refuses IDs that could escape the driver's directory or break
// overlay mount options: empty, "." and "..", path separators, and the
// option separators ',' and ':'.
func CheckID(id string) error {
	switch {
	case id == "", id == ".", id == "..",
		len(id) > MaxIDLength,
		strings.ContainsAny(id, "/\\:,\x00\n"):
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}
