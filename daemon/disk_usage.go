package daemon

import (
	"context"
	"slices"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	imagerouter "github.com/berth-engine/berth/api/server/router/image"
	"github.com/berth-engine/berth/api/types/sysinfo"
)

// SystemDiskUsage answers GET /system/df. Sizing volumes walks their data,
// so it is done only when volumes are asked for.
func (d *Daemon) SystemDiskUsage(ctx context.Context, types []string) (*sysinfo.DiskUsage, error) {
	want := func(t string) bool { return len(types) == 0 || slices.Contains(types, t) }
	du := &sysinfo.DiskUsage{
		Images:     []image.Summary{},
		Containers: []container.Summary{},
		Volumes:    []volume.Volume{},
		BuildCache: []build.CacheRecord{},
	}
	if want("image") {
		imgs, err := d.Images(ctx, imagerouter.ListOptions{All: true})
		if err != nil {
			return nil, err
		}
		for i := range imgs {
			imgs[i].Containers = 0 // no container uses an image yet
		}
		du.Images = imgs
		for _, l := range d.img.layers.Map() {
			du.LayersSize += l.DiffSize()
		}
	}
	if want("volume") {
		for _, v := range d.volumes.List(ctx) {
			size, err := d.volumes.Size(ctx, v.Name)
			if err != nil {
				size = -1 // Docker's "unknown"
			}
			av := toAPIVolume(v)
			av.UsageData = &volume.UsageData{Size: size, RefCount: int64(len(v.Refs))}
			du.Volumes = append(du.Volumes, av)
		}
	}
	return du, nil
}
