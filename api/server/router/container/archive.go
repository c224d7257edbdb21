package container

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/server/httputils"
)

// pathStatHeader carries a PathStat, as base64 (standard alphabet) of its
// JSON, on HEAD and GET /containers/{id}/archive.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(h http.Header, st *container.PathStat) error {
	if st == nil {
		return nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.Set(pathStatHeader, base64.StdEncoding.EncodeToString(raw))
	return nil
}

// archivePath reads the required path parameter.
func archivePath(r *http.Request) (string, error) {
	if err := httputils.ParseForm(r); err != nil {
		return "", err
	}
	p := r.Form.Get("path")
	if p == "" {
		return "", cerrdefs.ErrInvalidArgument.WithMessage("bad parameter: path cannot be empty")
	}
	return p, nil
}

func (cr *Router) headArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := cr.b.ContainerStatPath(ctx, vars["name"], p)
	if err != nil {
		return err
	}
	if err := setPathStat(w.Header(), st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getArchive sends a tar of path, gzip-compressed when the client accepts
// it (Go's HTTP client asks for gzip and decompresses transparently).
func (cr *Router) getArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	rc, st, err := cr.b.ContainerArchivePath(ctx, vars["name"], p)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := setPathStat(w.Header(), st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(out, rc); err != nil {
		cr.log.WithError(err).WithField("container", vars["name"]).Warn("archive failed after it began")
		panic(http.ErrAbortHandler)
	}
	return nil
}

// acceptsGzip reads an Accept-Encoding header: gzip with a non-zero
// quality, or, gzip unnamed, a "*" with one.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, prm := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(prm), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

func (cr *Router) putArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	err = cr.b.ContainerExtractToDir(ctx, vars["name"], p, ExtractOptions{
		AllowOverwriteDirWithFile: !httputils.BoolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:                httputils.BoolValue(r, "copyUIDGID"),
	}, r.Body)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
