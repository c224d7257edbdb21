// Package swarm answers the swarm-mode endpoints as a Docker Engine that is
// not in a swarm does: 503 with Docker's message. Berth has no swarm mode.
package swarm

import (
	"context"
	"net/http"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/api/server/router"
)

// Router serves the swarm endpoints.
type Router struct{}

// New returns the swarm router.
func New() Router { return Router{} }

var errNotInSwarm = cerrdefs.ErrUnavailable.WithMessage("This node is not part of a swarm")

// Routes lists every swarm-mode endpoint.
func (Router) Routes() []router.Route {
	notManager := func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return router.ErrNotSwarmManager
	}
	notInSwarm := func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return errNotInSwarm
	}
	var routes []router.Route
	add := func(h func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error, method string, paths ...string) {
		for _, p := range paths {
			routes = append(routes, router.Route{Method: method, Path: p, Handler: h})
		}
	}
	add(notManager, http.MethodGet, "/swarm", "/swarm/unlockkey", "/nodes", "/nodes/{id}",
		"/services", "/services/{id}", "/services/{id}/logs", "/tasks", "/tasks/{id}", "/tasks/{id}/logs",
		"/secrets", "/secrets/{id}", "/configs", "/configs/{id}")
	add(notManager, http.MethodPost, "/swarm/init", "/swarm/join", "/swarm/update", "/swarm/unlock",
		"/nodes/{id}/update", "/services/create", "/services/{id}/update",
		"/secrets/create", "/secrets/{id}/update", "/configs/create", "/configs/{id}/update")
	add(notManager, http.MethodDelete, "/nodes/{id}", "/services/{id}", "/secrets/{id}", "/configs/{id}")
	add(notInSwarm, http.MethodPost, "/swarm/leave")
	return routes
}
