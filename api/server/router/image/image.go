// Package image serves /images.
package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/router"
	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/api/types/progress"
)

// Router serves the image endpoints from a Backend.
type Router struct{ b Backend }

// New returns the image router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes lists the image endpoints.
func (ir *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/images/json", Handler: ir.list},
		{Method: http.MethodGet, Path: "/images/get", Handler: ir.getMany},
		{Method: http.MethodGet, Path: "/images/{name:.*}/get", Handler: ir.getOne},
		{Method: http.MethodGet, Path: "/images/{name:.*}/history", Handler: ir.history},
		{Method: http.MethodGet, Path: "/images/{name:.*}/json", Handler: ir.inspect},
		{Method: http.MethodPost, Path: "/images/create", Handler: ir.create},
		{Method: http.MethodPost, Path: "/images/load", Handler: ir.load},
		{Method: http.MethodPost, Path: "/images/prune", Handler: ir.prune},
		{Method: http.MethodPost, Path: "/images/{name:.*}/tag", Handler: ir.tag},
		{Method: http.MethodPost, Path: "/images/{name:.*}/push", Handler: ir.push},
		{Method: http.MethodDelete, Path: "/images/{name:.*}", Handler: ir.remove},
	}
}

func (ir *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// API < 1.41 clients may pass the filter as a parameter of its own.
	if name := r.Form.Get("filter"); name != "" {
		f.Add("reference", name)
	}
	imgs, err := ir.b.Images(ctx, ListOptions{
		All:        httputils.BoolValue(r, "all"),
		Filters:    f,
		SharedSize: httputils.BoolValue(r, "shared-size"),
	})
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, imgs)
}

func (ir *Router) inspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	img, err := ir.b.ImageInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, img)
}

func (ir *Router) history(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	h, err := ir.b.ImageHistory(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, h)
}

func (ir *Router) tag(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := ir.b.ImageTag(ctx, vars["name"], r.Form.Get("repo"), r.Form.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (ir *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	if strings.TrimSpace(name) == "" {
		return cerrdefs.ErrInvalidArgument.WithMessage("image name cannot be blank")
	}
	resp, err := ir.b.ImageDelete(ctx, name, httputils.BoolValue(r, "force"), !httputils.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}

func (ir *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := ir.b.ImagesPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

// create is `docker import` (fromSrc) or `docker pull` (fromImage).
func (ir *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	switch {
	case r.Form.Get("fromImage") != "":
		return ir.pull(ctx, w, r)
	case r.Form.Get("fromSrc") == "":
		return cerrdefs.ErrInvalidArgument.WithMessage("either fromImage or fromSrc is required")
	case r.Form.Get("fromSrc") != "-":
		return cerrdefs.ErrNotImplemented.WithMessage("importing from a URL is not supported; download the archive and import it from a file or stdin")
	}
	out := httputils.NewJSONStream(w)
	id, err := ir.b.ImageImport(ctx, r.Body, ImportOptions{
		Repo:     r.Form.Get("repo"),
		Tag:      r.Form.Get("tag"),
		Message:  r.Form.Get("message"),
		Platform: r.Form.Get("platform"),
		Changes:  r.Form["changes"],
	}, out)
	if err != nil {
		return streamError(out, err)
	}
	return out.WriteProgress(progress.Progress{Action: id})
}

// pull is `docker pull`: POST /images/create?fromImage=&tag=&platform=,
// credentials in X-Registry-Auth. Errors before the first message (an
// unknown manifest, a refused login) are answered with their status, as
// Docker does; later ones end the stream.
func (ir *Router) pull(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ref, all, err := pullReference(r.Form.Get("fromImage"), r.Form.Get("tag"))
	if err != nil {
		return err
	}
	// Docker ignores an undecodable header on pulls: anonymous.
	auth, _ := decodeAuth(r.Header.Get(registry.AuthHeader))
	out := httputils.NewJSONStream(w)
	if all {
		err = ir.b.ImagePullAllTags(ctx, ref, r.Form.Get("platform"), auth, out)
	} else {
		err = ir.b.ImagePull(ctx, ref, r.Form.Get("platform"), auth, out)
	}
	if err != nil {
		return streamError(out, err)
	}
	return nil
}

// pullReference makes the reference to pull of fromImage and tag, which may
// be a digest. With neither tag nor digest, every tag is pulled.
func pullReference(fromImage, tag string) (ref string, allTags bool, err error) {
	named, err := distref.ParseNormalizedNamed(fromImage)
	if err != nil {
		return "", false, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", fromImage))
	}
	if tag != "" {
		if dgst, derr := digest.Parse(tag); derr == nil {
			named, err = distref.WithDigest(distref.TrimNamed(named), dgst)
		} else {
			named, err = distref.WithTag(distref.TrimNamed(named), tag)
		}
		if err != nil {
			return "", false, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %s", tag))
		}
		return named.String(), false, nil
	}
	if _, ok := named.(distref.Tagged); ok {
		return named.String(), false, nil
	}
	if _, ok := named.(distref.Digested); ok {
		return named.String(), false, nil
	}
	return named.String(), true, nil
}

// push is `docker push`: POST /images/{name}/push?tag=, credentials in
// X-Registry-Auth. Its first message goes out before the registry is
// reached, so registry errors end the stream, as in Docker.
func (ir *Router) push(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	auth, err := decodeAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	out := httputils.NewJSONStream(w)
	if err := ir.b.ImagePush(ctx, vars["name"], r.Form.Get("tag"), auth, out); err != nil {
		return streamError(out, err)
	}
	return nil
}

// decodeAuth decodes X-Registry-Auth: base64 (URL or standard alphabet,
// padded or not) of a JSON AuthConfig. Empty is anonymous (nil).
func decodeAuth(header string) (*registry.AuthConfig, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, nil
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(header); err == nil {
			break
		}
	}
	if err != nil {
		return nil, cerrdefs.ErrInvalidArgument.WithMessage("invalid X-Registry-Auth header: not base64")
	}
	var auth registry.AuthConfig
	if err := json.Unmarshal(raw, &auth); err != nil {
		return nil, cerrdefs.ErrInvalidArgument.WithMessage("invalid X-Registry-Auth header: " + err.Error())
	}
	return &auth, nil
}

func (ir *Router) load(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	stream := httputils.NewJSONStream(w)
	var out progress.Output = stream
	if httputils.BoolValue(r, "quiet") {
		out = progress.Discard
	}
	loaded, err := ir.b.ImageLoad(ctx, r.Body, out)
	if err != nil {
		return streamError(stream, err)
	}
	for _, line := range loaded {
		if err := stream.Stream(line + "\n"); err != nil {
			return nil
		}
	}
	return nil
}

func (ir *Router) getMany(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	return ir.export(ctx, w, r.Form["names"])
}

func (ir *Router) getOne(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	return ir.export(ctx, w, []string{vars["name"]})
}

func (ir *Router) export(ctx context.Context, w http.ResponseWriter, names []string) error {
	if len(names) == 0 {
		return cerrdefs.ErrInvalidArgument.WithMessage("no images named: pass at least one name")
	}
	lw := &lazyTarWriter{w: w}
	err := ir.b.ImageExport(ctx, names, lw)
	if err != nil && lw.began {
		// The archive is already on its way: cutting it short is the only
		// signal left; the client sees a truncated tar.
		panic(http.ErrAbortHandler)
	}
	return err
}

// lazyTarWriter sends the tar header and 200 on the first write only, so
// that an error before any byte becomes a proper error response.
type lazyTarWriter struct {
	w     http.ResponseWriter
	began bool
}

func (l *lazyTarWriter) Write(p []byte) (int, error) {
	if !l.began {
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
		l.began = true
	}
	return l.w.Write(p)
}

// streamError answers err as a status code while nothing was streamed, and
// as the stream's last message after.
func streamError(s *httputils.JSONStream, err error) error {
	if !s.Began() {
		return err
	}
	_ = s.Error(err)
	return nil
}
