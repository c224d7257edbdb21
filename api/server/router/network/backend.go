package network

import (
	"context"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-engine/berth/api/types/filters"
)

// Backend is what the network routes need of the daemon.
type Backend interface {
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	// NetworkInspect resolves a name, full ID or unique ID prefix; verbose
	// and scope are the query's.
	NetworkInspect(ctx context.Context, name string, verbose bool, scope string) (network.Inspect, error)
	NetworkList(ctx context.Context, f filters.Args) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, name string) error
	NetworkConnect(ctx context.Context, name string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, name string, req network.DisconnectRequest) error
	NetworksPrune(ctx context.Context, f filters.Args) (network.PruneReport, error)
}
