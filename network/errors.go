package network

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each carries its errdefs class, so the API server picks
// the HTTP status without knowing this package; the messages the docker CLI
// prints are Docker's, with the names filled in (see errorf).
var (
	// ErrNoSuchNetwork: "network X not found".
	ErrNoSuchNetwork = errclass.New("network not found", cerrdefs.ErrNotFound)
	// ErrAmbiguous: an ID prefix matching several networks.
	ErrAmbiguous = errclass.New("network is ambiguous", cerrdefs.ErrInvalidArgument)
	// ErrNetworkExists: "network with name X already exists".
	ErrNetworkExists = errclass.New("network already exists", cerrdefs.ErrConflict)
	// ErrPredefined: the builtin networks cannot be created or removed.
	ErrPredefined = errclass.New("pre-defined network", cerrdefs.ErrPermissionDenied)
	// ErrActiveEndpoints: a network with endpoints cannot be removed.
	ErrActiveEndpoints = errclass.New("network has active endpoints", cerrdefs.ErrConflict)
	// ErrNoSuchEndpoint: the container is not connected to the network.
	ErrNoSuchEndpoint = errclass.New("endpoint not found", cerrdefs.ErrNotFound)
	// ErrEndpointExists: the container is already connected to the network.
	ErrEndpointExists = errclass.New("endpoint already exists", cerrdefs.ErrPermissionDenied) // 403, as Docker's ActiveEndpointError
	// ErrInvalid is the class of malformed requests (options, addresses...).
	ErrInvalid = errclass.New("invalid network request", cerrdefs.ErrInvalidArgument)
	// ErrOneInstance: a second host or null network (Docker's 403).
	ErrOneInstance = errclass.New("only one instance of this driver's network is allowed", cerrdefs.ErrPermissionDenied)
	// ErrNoSuchDriver: a driver other than bridge, host and null.
	ErrNoSuchDriver = errclass.New("network driver not found", cerrdefs.ErrNotFound)
	// ErrClosed: the Controller was closed.
	ErrClosed = errclass.New("network controller is closed", cerrdefs.ErrUnavailable)
)

// errorf is errclass.Errorf: Docker's wording, matching sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return errclass.Errorf(sentinel, format, args...)
}
