package volume

import (
	"context"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/api/types/filters"
)

// Backend is what the volume routes need of the daemon.
type Backend interface {
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	VolumeList(ctx context.Context, f filters.Args) ([]volume.Volume, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumePrune(ctx context.Context, f filters.Args) (volume.PruneReport, error)
}
