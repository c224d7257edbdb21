package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router"
)

type testRouter []router.Route

func (r testRouter) Routes() []router.Route { return r }

func newTestServer(t *testing.T) *httptest.Server {
	log := logrus.New()
	log.SetOutput(io.Discard)
	routes := testRouter{
		{Method: http.MethodGet, Path: "/echo-version", Handler: func(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
			return httputils.WriteJSON(w, http.StatusOK, httputils.VersionFromContext(ctx))
		}},
		{Method: http.MethodGet, Path: "/panic", Handler: func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
			panic("boom")
		}},
		{Method: http.MethodGet, Path: "/conflict", Handler: func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
			return cerrdefs.ErrConflict.WithMessage("it clashes")
		}},
		{Method: http.MethodPost, Path: "/json", Handler: func(_ context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
			var v map[string]any
			if err := httputils.ReadJSON(r, &v); err != nil {
				return err
			}
			return httputils.WriteJSON(w, http.StatusOK, v)
		}},
	}
	s := New(Config{Versions: middleware.Versions{Min: "1.24", Max: "1.44", Server: "test"}, Log: log}, routes)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func call(t *testing.T, ts *httptest.Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func message(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message == "" {
		t.Fatalf("error body %q is not {\"message\": ...}", body)
	}
	return e.Message
}

func TestVersionedAndUnversionedPaths(t *testing.T) {
	ts := newTestServer(t)
	for path, want := range map[string]string{"/echo-version": `"1.44"`, "/v1.30/echo-version": `"1.30"`, "/v1.24/echo-version": `"1.24"`} {
		code, h, body := call(t, ts, "GET", path, "")
		if code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("%s: %d %s", path, code, body)
		}
		if h.Get("Api-Version") != "1.44" || h.Get("Ostype") != "linux" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

func TestVersionOutOfRange(t *testing.T) {
	ts := newTestServer(t)
	code, _, body := call(t, ts, "GET", "/v1.99/echo-version", "")
	if code != 400 || message(t, body) != "client version 1.99 is too new. Maximum supported API version is 1.44" {
		t.Errorf("too new: %d %s", code, body)
	}
	code, _, body = call(t, ts, "GET", "/v1.12/echo-version", "")
	if code != 400 || !strings.HasPrefix(message(t, body), "client version 1.12 is too old. Minimum supported API version is 1.24") {
		t.Errorf("too old: %d %s", code, body)
	}
}

func TestErrorsAreJSONWithStatus(t *testing.T) {
	ts := newTestServer(t)
	code, _, body := call(t, ts, "GET", "/conflict", "")
	if code != 409 || message(t, body) != "it clashes" {
		t.Errorf("conflict: %d %s", code, body)
	}
	code, _, body = call(t, ts, "GET", "/nowhere", "")
	if code != 404 || message(t, body) != "page not found" {
		t.Errorf("unknown route: %d %s", code, body)
	}
	code, _, body = call(t, ts, "DELETE", "/echo-version", "")
	if code != 404 {
		t.Errorf("wrong method: %d %s", code, body)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	ts := newTestServer(t)
	code, _, body := call(t, ts, "GET", "/panic", "")
	if code != 500 || !strings.Contains(message(t, body), "boom") {
		t.Errorf("panic: %d %s", code, body)
	}
	if code, _, _ := call(t, ts, "GET", "/echo-version", ""); code != 200 {
		t.Error("server unusable after a panic")
	}
}

func TestBadJSON(t *testing.T) {
	ts := newTestServer(t)
	for _, body := range []string{`{"Name":`, `{"a":1} trailing`, `[1,2`} {
		code, _, resp := call(t, ts, "POST", "/json", body)
		if code != 400 || !strings.HasPrefix(message(t, resp), "invalid JSON") {
			t.Errorf("%q: %d %s", body, code, resp)
		}
	}
	big := `{"a":"` + strings.Repeat("x", httputils.MaxJSONBody) + `"}`
	code, _, resp := call(t, ts, "POST", "/json", big)
	if code != 400 || !strings.Contains(message(t, resp), "too large") {
		t.Errorf("oversized: %d %.100s", code, resp)
	}
}

func TestProfilerOnlyWhenAsked(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	for _, on := range []bool{false, true} {
		ts := httptest.NewServer(New(Config{Versions: middleware.Versions{Min: "1.24", Max: "1.44"}, Log: log, Profiler: on}).Handler())
		for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/goroutine?debug=1": "goroutine profile:", "/debug/pprof/cmdline": "server.test"} {
			code, _, body := call(t, ts, http.MethodGet, path, "")
			if on && (code != http.StatusOK || !strings.Contains(body, want)) {
				t.Errorf("profiler on: GET %s: %d %.100q", path, code, body)
			}
			if !on && code != http.StatusNotFound {
				t.Errorf("profiler off: GET %s: %d", path, code)
			}
		}
		ts.Close()
	}
}
