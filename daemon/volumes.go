package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/volume/store"
)

// VolumeCreate creates a volume (or returns the existing one of that name).
func (d *Daemon) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	v, err := d.volumes.Create(ctx, store.CreateOptions{
		Name:       req.Name,
		Driver:     req.Driver,
		DriverOpts: req.DriverOpts,
		Labels:     req.Labels,
	})
	if err != nil {
		return volume.Volume{}, err
	}
	return toAPIVolume(v), nil
}

// VolumeInspect returns one volume.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	v, err := d.volumes.Get(ctx, name)
	if err != nil {
		return volume.Volume{}, err
	}
	return toAPIVolume(v), nil
}

// VolumeList lists the volumes that pass the filters name (regexp or
// substring), driver, label and dangling.
func (d *Daemon) VolumeList(ctx context.Context, f filters.Args) ([]volume.Volume, error) {
	if err := f.Validate("name", "driver", "label", "dangling"); err != nil {
		return nil, err
	}
	dangling, err := f.Bool("dangling", false)
	if err != nil {
		return nil, err
	}
	all := d.volumes.List(ctx)
	out := make([]volume.Volume, 0, len(all))
	for _, v := range all {
		if !f.Match("name", v.Name) || !f.ExactMatch("driver", v.Driver) || !f.MatchKVList("label", v.Labels) {
			continue
		}
		if f.Has("dangling") && dangling != (len(v.Refs) == 0) {
			continue
		}
		out = append(out, toAPIVolume(v))
	}
	return out, nil
}

// VolumeRemove removes a volume; force tolerates a missing volume and driver
// failures, never a volume in use.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	return d.volumes.Remove(ctx, name, force)
}

// VolumePrune removes unused volumes: anonymous ones only unless the filter
// all=true is given; label and label! narrow the set.
func (d *Daemon) VolumePrune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	if err := f.Validate("label", "label!", "all"); err != nil {
		return volume.PruneReport{}, err
	}
	all, err := f.Bool("all", false)
	if err != nil {
		return volume.PruneReport{}, err
	}
	rep, err := d.volumes.Prune(ctx, func(v store.Volume) bool {
		if !all && !v.Anonymous() {
			return false
		}
		if !f.MatchKVList("label", v.Labels) {
			return false
		}
		for _, l := range f.Get("label!") {
			if (filters.Args{"l": {l: true}}).MatchKVList("l", v.Labels) {
				return false
			}
		}
		return true
	})
	return volume.PruneReport{VolumesDeleted: rep.Removed, SpaceReclaimed: rep.SpaceReclaimed}, err
}

func toAPIVolume(v store.Volume) volume.Volume {
	out := volume.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Mountpoint: v.Mountpoint,
		Scope:      v.Scope,
		Labels:     v.Labels,
		Options:    v.Options,
		CreatedAt:  v.CreatedAt.Local().Format(time.RFC3339),
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}
