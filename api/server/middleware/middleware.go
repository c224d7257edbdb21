// Package middleware wraps API handlers: API version negotiation per route,
// and, around the whole server, panic recovery and request logging.
package middleware

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
)

// Versions are the API versions the server accepts.
type Versions struct {
	Min, Max string
	// Server is the engine version, for the Server header.
	Server string
}

// Version checks the /vX.Y of a request against the supported range, puts
// the version in the request context and sets the headers Docker sets on every
// response.
func Version(v Versions, next httputils.APIFunc) httputils.APIFunc {
	server := fmt.Sprintf("Berth/%s (%s)", v.Server, runtime.GOOS)
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		h := w.Header()
		h.Set("Server", server)
		h.Set("Api-Version", v.Max)
		h.Set("Ostype", runtime.GOOS)
		version := vars["version"]
		if version == "" {
			version = v.Max
		}
		if Compare(version, v.Max) > 0 {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, v.Max))
		}
		if Compare(version, v.Min) < 0 {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, v.Min))
		}
		return next(httputils.WithVersion(ctx, version), w, r, vars)
	}
}

// Compare compares dotted versions numerically: -1, 0 or 1.
func Compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// Outer recovers panics (logged with the stack, answered 500) and logs one
// line per request at debug level with method, path, status and duration.
func Outer(log *logrus.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path, "panic": p}).
					Errorf("handler panicked:\n%s", debug.Stack())
				if !rec.wroteHeader && !rec.hijacked {
					httputils.WriteError(rec, r, log, fmt.Errorf("internal server error: %v", p))
				}
			}
			if log.IsLevelEnabled(logrus.DebugLevel) {
				log.WithFields(logrus.Fields{
					"method":   r.Method,
					"path":     r.URL.RequestURI(),
					"status":   rec.status(),
					"duration": time.Since(start).String(),
				}).Debug("api request")
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder remembers the status written, and passes Flush and Hijack through
// for streaming and hijacked endpoints.
type recorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	hijacked    bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) status() int {
	switch {
	case r.hijacked:
		return http.StatusSwitchingProtocols
	case !r.wroteHeader:
		return http.StatusOK
	}
	return r.code
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("response writer cannot be hijacked")
	}
	r.hijacked = true
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
