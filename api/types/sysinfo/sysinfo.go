// Package sysinfo is Berth's GET /info body: Docker's system.Info plus the
// volume quota. The extra field sits beside Docker's, so unchanged clients
// decode the rest as usual.
package sysinfo

import "github.com/moby/moby/api/types/system"

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
