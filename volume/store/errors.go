package store

import (
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each one carries its class (not found, conflict, ...) so
// the API server can pick the HTTP status without knowing this package.
var (
	ErrNoSuchVolume  = errclass.New("no such volume", cerrdefs.ErrNotFound)
	ErrVolumeInUse   = errclass.New("volume is in use", cerrdefs.ErrConflict)
	ErrNameConflict  = errclass.New("volume name must be unique", cerrdefs.ErrConflict)
	ErrNoSuchDriver  = errclass.New("volume driver not found", cerrdefs.ErrNotFound)
	ErrQuotaExceeded = errclass.New("volume quota exceeded", cerrdefs.ErrPermissionDenied)
)

// QuotaError is the refusal of a create when the quota is full. Its message
// is what the docker CLI prints verbatim, so it says what to do about it.
type QuotaError struct {
	InUse, Max int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("volume quota exceeded: %d of %d volumes in use (max-volumes=%d); remove unused volumes with 'docker volume prune'", e.InUse, e.Max, e.Max)
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) and the forbidden class hold.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }
