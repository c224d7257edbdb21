// Package router defines what a resource's router package hands the server:
// a list of routes. Each resource (system, volume, ...) has its own package
// beside this one with a backend.go naming the few Daemon methods it needs.
package router

import (
	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/api/server/httputils"
)

// Route is one API endpoint. Path is unversioned ("/volumes/{name}"); the
// server also serves it under "/vX.Y".
type Route struct {
	Method  string
	Path    string
	Handler httputils.APIFunc
}

// Router is a set of routes for one resource.
type Router interface {
	Routes() []Route
}

// ErrNotSwarmManager is Docker's answer to swarm requests on an engine that is
// not in a swarm, which Berth never is.
var ErrNotSwarmManager = cerrdefs.ErrUnavailable.WithMessage(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
