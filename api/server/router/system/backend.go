package system

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/api/types/sysinfo"
)

// Backend is what the system routes need of the daemon.
type Backend interface {
	SystemInfo(ctx context.Context) (*sysinfo.Info, error)
	SystemVersion(ctx context.Context) system.VersionResponse
	// SystemDiskUsage reports the space used by the objects of the types
	// asked for ("image", "container", "volume", "build-cache"; all if none).
	SystemDiskUsage(ctx context.Context, types []string) (*sysinfo.DiskUsage, error)
	// SubscribeToEvents returns the past events since `since` that pass f,
	// a channel of the ones to come (closed if the subscriber lags too far),
	// and a function that ends the subscription.
	SubscribeToEvents(since, until time.Time, f filters.Args) ([]events.Message, <-chan events.Message, func(), error)
	// AuthenticateToRegistry checks credentials against the registry they
	// name (docker login) and returns the status to show ("Login
	// Succeeded") and an identity token for the client to store instead of
	// the password ("" for none).
	AuthenticateToRegistry(ctx context.Context, auth *registry.AuthConfig) (status, identityToken string, err error)
}
