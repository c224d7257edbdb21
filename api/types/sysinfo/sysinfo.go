// Package sysinfo is Berth's GET /info body: Docker's system.Info plus the
// volume quota. The extra field sits beside Docker's, so unchanged clients
// decode the rest as usual.
package sysinfo

import (
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// Info is the GET /info response.
type Info struct {
	system.Info
	VolumeQuota VolumeQuota `json:"VolumeQuota"`
}

// VolumeQuota is the per-daemon volume quota: MaxVolumes 0 means unlimited;
// Volumes counts the volumes that exist (and creates in flight).
type VolumeQuota struct {
	MaxVolumes int `json:"MaxVolumes"`
	Volumes    int `json:"Volumes"`
}

// DiskUsage is the GET /system/df body in the shape API versions up to 1.51
// use (the docker CLI 28 negotiates 1.44 with Berth): the Engine API module's
// own DiskUsage type is the newer, differently shaped one.
type DiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}
