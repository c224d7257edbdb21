// Package network serves /networks: list, inspect, create, remove, connect,
// disconnect and prune, with Docker's routes, parameters, status codes and
// error messages. The router checks what can be checked from the request
// alone (filter keys and values, the verbose flag, an empty or predefined
// network name, an empty container); resolving names and IDs, and every
// decision that needs the daemon's state, is the Backend's.
package network

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router"
	"github.com/berth-engine/berth/api/types/filters"
)

// Router serves the network endpoints from a Backend.
type Router struct{ b Backend }

// New returns the network router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes lists the network endpoints, as moby's network router declares
// them.
func (n *Router) Routes() []router.Route {
	return []router.Route{
		// GET
		{Method: http.MethodGet, Path: "/networks", Handler: n.list},
		{Method: http.MethodGet, Path: "/networks/", Handler: n.list},
		{Method: http.MethodGet, Path: "/networks/{id:.+}", Handler: n.inspect},
		// POST
		{Method: http.MethodPost, Path: "/networks/create", Handler: n.create},
		{Method: http.MethodPost, Path: "/networks/prune", Handler: n.prune},
		{Method: http.MethodPost, Path: "/networks/{id:.*}/connect", Handler: n.connect},
		{Method: http.MethodPost, Path: "/networks/{id:.*}/disconnect", Handler: n.disconnect},
		// DELETE
		{Method: http.MethodDelete, Path: "/networks/{id:.*}", Handler: n.remove},
	}
}

// listFilters are the filter keys GET /networks accepts.
var listFilters = []string{"dangling", "driver", "id", "label", "name", "scope", "type"}

// pruneFilters are the filter keys POST /networks/prune accepts.
var pruneFilters = []string{"label", "label!", "until"}

// predefined reports whether name is one of the networks every engine has,
// which cannot be created (Docker's list: bridge, host, none, default).
func predefined(name string) bool {
	switch name {
	case network.NetworkBridge, network.NetworkHost, network.NetworkNone, network.NetworkDefault:
		return true
	}
	return false
}

// versionBefore reports whether the request's API version is older than v.
// Outside the version middleware (no version) the request counts as current.
func versionBefore(ctx context.Context, v string) bool {
	have := httputils.VersionFromContext(ctx)
	return have != "" && middleware.Compare(have, v) < 0
}

// validateListFilters refuses what moby's network filter refuses: unknown
// keys, a type other than builtin or custom, a dangling that is not one
// boolean.
func validateListFilters(f filters.Args) error {
	if err := f.Validate(listFilters...); err != nil {
		return err
	}
	for _, t := range f.Get("type") {
		if t != "builtin" && t != "custom" {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter: 'type'='%s'", t))
		}
	}
	if vs := f.Get("dangling"); len(vs) > 0 {
		if len(vs) > 1 {
			return cerrdefs.ErrInvalidArgument.WithMessage(`got more than one value for filter key "dangling"`)
		}
		switch vs[0] {
		case "0", "1", "false", "true":
		default:
			return cerrdefs.ErrInvalidArgument.WithMessage(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
	}
	return nil
}

func (n *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	if err := validateListFilters(f); err != nil {
		return err
	}
	nets, err := n.b.NetworkList(ctx, f)
	if err != nil {
		return err
	}
	// Before API 1.28 the list was of full network objects, endpoints
	// included. A network removed since the list was made is left out.
	if versionBefore(ctx, "1.28") {
		full := make([]network.Inspect, 0, len(nets))
		for _, s := range nets {
			nw, err := n.b.NetworkInspect(ctx, s.ID, false, "")
			if err != nil {
				if cerrdefs.IsNotFound(err) {
					continue
				}
				return err
			}
			full = append(full, nw)
		}
		return httputils.WriteJSON(w, http.StatusOK, full)
	}
	if nets == nil {
		nets = []network.Summary{}
	}
	return httputils.WriteJSON(w, http.StatusOK, nets)
}

func (n *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	var verbose bool
	if v := q.Get("verbose"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for verbose: %s: %v", v, err))
		}
		verbose = b
	}
	nw, err := n.b.NetworkInspect(ctx, vars["id"], verbose, q.Get("scope"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, nw)
}

func (n *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req network.CreateRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid name: " + req.Name)
	}
	if predefined(req.Name) {
		return cerrdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("operation is not permitted on predefined %s network ", req.Name))
	}
	// EnableIPv4 came with API 1.48; older clients cannot turn IPv4 off.
	if versionBefore(ctx, "1.48") {
		req.EnableIPv4 = nil
	}
	resp, err := n.b.NetworkCreate(ctx, req)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, resp)
}

// emptyContainer is Docker's answer to a connect or disconnect that names no
// container.
func emptyContainer(name string) error {
	return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid name or ID supplied: %q", name))
}

func (n *Router) connect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.ConnectRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return emptyContainer(req.Container)
	}
	if err := n.b.NetworkConnect(ctx, vars["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *Router) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.DisconnectRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return emptyContainer(req.Container)
	}
	if err := n.b.NetworkDisconnect(ctx, vars["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *Router) remove(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	if err := n.b.NetworkRemove(ctx, vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if versionBefore(ctx, "1.25") {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s %s requires minimum API version 1.25", r.Method, r.URL.Path))
	}
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	if err := f.Validate(pruneFilters...); err != nil {
		return err
	}
	if len(f.Get("until")) > 1 {
		return cerrdefs.ErrInvalidArgument.WithMessage("more than one until filter specified")
	}
	rep, err := n.b.NetworksPrune(ctx, f)
	if err != nil {
		return err
	}
	if rep.NetworksDeleted == nil {
		rep.NetworksDeleted = []string{}
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}
