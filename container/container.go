// Package container holds Berth's containers: each one's configuration and
// state (Container), the store that persists them in containers.db and
// resolves names and ID prefixes (Store), and the waits on state changes.
//
// A container's configuration is kept in the Engine API's own types
// (container.Config and HostConfig): they are what `docker inspect` echoes
// back and what the runtime spec is generated from, so a parallel copy of
// their hundred fields would only be a place for the two to drift.
package container

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	mounttypes "github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// Container is one container. Its exported fields are persisted; callers
// hold Lock while they read or change them.
type Container struct {
	ID         string
	Name       string // with Docker's leading "/"
	Created    time.Time
	Path       string
	Args       []string
	Config     *container.Config
	HostConfig *container.HostConfig
	ImageID    string // "sha256:..."
	Driver     string
	Mounts     []MountPoint
	// Paths of the files the daemon writes for the container and binds
	// over the image's.
	LogPath, HostnamePath, HostsPath, ResolvConfPath string

	// NetworkingConfig is the create request's per-network endpoint
	// settings (aliases, --ip), by network name.
	NetworkingConfig *network.NetworkingConfig `json:",omitempty"`
	// LeftNetworkMode: `docker network disconnect` took the container off
	// the network its NetworkMode names; starts do not join it again until
	// a `docker network connect` to it. NetworkMode itself stays, as
	// Docker's HostConfig does.
	LeftNetworkMode bool `json:",omitempty"`

	State                  State
	RestartCount           int
	HasBeenStartedBefore   bool
	HasBeenManuallyStopped bool
	// HasBeenManuallyRestarted: a restart is under way, so that the exit it
	// causes does not auto-remove a `run --rm` container (Docker's rule).
	HasBeenManuallyRestarted bool `json:"-"`

	mu      sync.Mutex
	waits   waits
	removal bool // a removal holds the container (ClaimRemoval)
}

// MountPoint is a mount the container was created with: a volume (named or
// anonymous), a bind, or a tmpfs.
type MountPoint struct {
	Type        mounttypes.Type
	Name        string // volume name
	Source      string // bind source; for volumes the path while mounted
	Destination string
	Driver      string
	Mode        string
	RW          bool
	Propagation mounttypes.Propagation
	Anonymous   bool // created for this container: removed by rm -v / --rm
	NoCopy      bool // do not seed the volume from the image
	// TmpfsOptions for Type tmpfs.
	TmpfsOptions *mounttypes.TmpfsOptions `json:",omitempty"`
}

// Lock and Unlock guard the exported fields.
func (c *Container) Lock()   { c.mu.Lock() }
func (c *Container) Unlock() { c.mu.Unlock() }

// NewID returns a random 64-hex container ID whose short form is not all
// digits (so it cannot be mistaken for a number), as Docker's.
func NewID() string {
	b := make([]byte, 32)
	for {
		rand.Read(b)
		id := hex.EncodeToString(b)
		if strings.Trim(id[:12], "0123456789") != "" {
			return id
		}
	}
}

// ShortID is the 12-character form.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Volumes lists the volume names the container refers to.
func (c *Container) Volumes() []string {
	var names []string
	for _, m := range c.Mounts {
		if m.Type == mounttypes.TypeVolume {
			names = append(names, m.Name)
		}
	}
	return names
}
