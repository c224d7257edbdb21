// Package volume serves /volumes.
package volume

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router"
	"github.com/berth-engine/berth/api/types/filters"
)

// Router serves the volume endpoints from a Backend.
type Router struct{ b Backend }

// New returns the volume router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes lists the volume endpoints.
func (v *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/volumes", Handler: v.list},
		{Method: http.MethodGet, Path: "/volumes/{name:.*}", Handler: v.inspect},
		{Method: http.MethodPost, Path: "/volumes/create", Handler: v.create},
		{Method: http.MethodPost, Path: "/volumes/prune", Handler: v.prune},
		{Method: http.MethodDelete, Path: "/volumes/{name:.*}", Handler: v.remove},
		{Method: http.MethodPut, Path: "/volumes/{name:.*}", Handler: notSwarm},
	}
}

func (v *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	vols, err := v.b.VolumeList(ctx, f)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, volume.ListResponse{Volumes: vols, Warnings: []string{}})
}

func (v *Router) inspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	vol, err := v.b.VolumeInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, vol)
}

func (v *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req volume.CreateRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	vol, err := v.b.VolumeCreate(ctx, req)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, vol)
}

func (v *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := v.b.VolumeRemove(ctx, vars["name"], httputils.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	// Before API 1.42 prune removed every unused volume, named or not.
	if middleware.Compare(httputils.VersionFromContext(ctx), "1.42") < 0 && !f.Has("all") {
		f.Add("all", "true")
	}
	rep, err := v.b.VolumePrune(ctx, f)
	if err != nil {
		return err
	}
	if rep.VolumesDeleted == nil {
		rep.VolumesDeleted = []string{}
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

// notSwarm answers cluster-volume updates, which need swarm mode.
func notSwarm(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
	return router.ErrNotSwarmManager
}
