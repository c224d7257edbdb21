// Package httputils holds what every API handler shares: the handler
// signature, JSON in and out, form parsing, and the one place where an error
// becomes an HTTP status and a {"message": ...} body.
package httputils

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errhttp"
	"github.com/moby/moby/api/types/common"
	"github.com/sirupsen/logrus"
)

// APIFunc is an API handler. vars are the route's path variables. A returned
// error is written by the server with its status; a handler that already
// started its response must not return one.
type APIFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error

// MaxJSONBody bounds JSON request bodies. The largest legitimate one (a
// container create) is a few KiB.
const MaxJSONBody = 1 << 20

type versionKey struct{}

type closingKey struct{}

// WithClosing stores the server's shutdown signal in ctx.
func WithClosing(ctx context.Context, closing <-chan struct{}) context.Context {
	return context.WithValue(ctx, closingKey{}, closing)
}

// Closing is closed when the server shuts down; streaming handlers stop on it.
// It is nil (never ready) outside a server.
func Closing(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(closingKey{}).(<-chan struct{})
	return c
}

// WithVersion stores the request's API version in ctx.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// VersionFromContext returns the API version the client asked for (the
// server's own when the path had none).
func VersionFromContext(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ReadJSON decodes a bounded JSON body into v. An empty body leaves v as it
// is; malformed JSON, trailing data or an oversized body is invalid.
func ReadJSON(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	body := http.MaxBytesReader(nil, r.Body, MaxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &tooBig):
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("request body too large: limit is %d bytes", MaxJSONBody))
		}
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid JSON: " + err.Error())
	}
	if dec.More() {
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid JSON: unexpected data after the JSON object")
	}
	return nil
}

// ParseForm parses the query string (and form body), as an invalid argument
// on failure.
func ParseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid query: " + err.Error())
	}
	return nil
}

// BoolValue reads a boolean query parameter as Docker does: absent, "",
// "0", "no", "false" and "none" are false, anything else true.
func BoolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.FormValue(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// Int64Value reads an integer query parameter, def when absent.
func Int64Value(r *http.Request, key string, def int64) (int64, error) {
	s := r.FormValue(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for %s: %q is not an integer", key, s))
	}
	return n, nil
}

// StatusFor is the HTTP status for err, from its class.
func StatusFor(err error) int { return errhttp.ToHTTP(err) }

// WriteError answers err in Docker's form and logs it: internal errors at
// error level, refusals (4xx, 501, 503) at info level.
func WriteError(w http.ResponseWriter, r *http.Request, log logrus.FieldLogger, err error) {
	code := StatusFor(err)
	fields := logrus.Fields{"method": r.Method, "path": r.URL.Path, "status": code}
	if code == http.StatusInternalServerError {
		log.WithFields(fields).WithError(err).Error("request failed")
	} else {
		log.WithFields(fields).Info("request refused: " + err.Error())
	}
	_ = WriteJSON(w, code, common.ErrorResponse{Message: err.Error()})
}
