package ipam

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/errclass"
)

// Sentinel errors. Each carries its class so the API server picks the HTTP
// status without knowing this package; the messages are Docker's where the
// docker CLI users know them.
var (
	// ErrPoolOverlap refuses a network whose subnet overlaps another's.
	ErrPoolOverlap = errclass.New("Pool overlaps with other one on this address space", cerrdefs.ErrConflict)
	// ErrAddressInUse refuses a static address that is taken (or is the gateway).
	ErrAddressInUse = errclass.New("Address already in use", cerrdefs.ErrConflict)
	// ErrOutOfRange refuses a static address outside the ip-range (or subnet).
	ErrOutOfRange = errclass.New("requested address is out of range", cerrdefs.ErrInvalidArgument)
	// ErrNoAvailableIPs says every address of the network's range is taken.
	ErrNoAvailableIPs = errclass.New("no available addresses on this network's address pools", cerrdefs.ErrUnavailable)
	// ErrNoAvailablePool says every subnet of the configured pools is taken or avoided.
	ErrNoAvailablePool = errclass.New("could not find an available, non-overlapping address pool among the defaults to assign to the network", cerrdefs.ErrUnavailable)
	// ErrNoSuchNetwork names a network the store does not know.
	ErrNoSuchNetwork = errclass.New("no such network", cerrdefs.ErrNotFound)
	// ErrNetworkExists refuses a second AddNetwork with the same id.
	ErrNetworkExists = errclass.New("network already exists", cerrdefs.ErrConflict)
	// ErrInvalid is the class of malformed arguments (bad prefix, gateway outside the subnet...).
	ErrInvalid = errclass.New("invalid address configuration", cerrdefs.ErrInvalidArgument)
)

// errorf is errclass.Errorf: Docker's wording, matching sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return errclass.Errorf(sentinel, format, args...)
}
