package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestLoginBasic(t *testing.T) {
	r := newTestRegistry(t)
	r.requireBasic("alice", "s3cret")
	o := r.opts(t, nil).Options

	o.Credentials = Credentials{Username: "alice", Password: "s3cret"}
	if err := Login(context.Background(), r.host, o); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	want := "login attempt to http://" + r.host + "/v2/ failed with status: 401 Unauthorized"
	for _, cr := range []Credentials{{Username: "alice", Password: "wrong"}, {}} {
		o.Credentials = cr
		err := Login(context.Background(), r.host, o)
		if err == nil || !errdefs.IsUnauthorized(err) || err.Error() != want {
			t.Errorf("credentials %+v: %v, want an unauthorized error %q", cr, err, want)
		}
	}
}

func TestLoginToken(t *testing.T) {
	r := newTestRegistry(t)
	var scopes []string
	r.mu.Lock()
	r.challenge = fmt.Sprintf(`Bearer realm="%s/token",service="test-registry"`, r.srv.URL)
	r.auth = func(req *http.Request) bool { return req.Header.Get("Authorization") == "Bearer good-token" }
	r.extra = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		scopes = append(scopes, req.URL.Query()["scope"]...)
		r.mu.Unlock()
		if u, p, ok := req.BasicAuth(); !ok || u != "bob" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"token": "good-token"})
	})
	r.mu.Unlock()
	o := r.opts(t, nil).Options
	o.Credentials = Credentials{Username: "bob", Password: "pw"}
	if err := Login(context.Background(), r.host, o); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	r.mu.Lock()
	if len(scopes) != 0 {
		t.Errorf("a login asked for scopes %v; it needs none", scopes)
	}
	r.mu.Unlock()
	o.Credentials.Password = "nope"
	err := Login(context.Background(), r.host, o)
	if err == nil || !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "unauthorized: incorrect username or password") {
		t.Fatalf("bad password: %v, want the token server's refusal as unauthorized", err)
	}
}

func TestLoginErrors(t *testing.T) {
	// Nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	o := Options{Insecure: func(string) bool { return true }}
	if err := Login(context.Background(), dead, o); err == nil || !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable registry: %v", err)
	}

	// Something that is not a registry.
	srv := http.Server{Handler: http.NotFoundHandler()}
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	if err := Login(context.Background(), l.Addr().String(), o); err == nil || errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "404") {
		t.Errorf("not a registry: %v", err)
	}

	// A registry that is not insecure is not reached over plain HTTP.
	r := newTestRegistry(t)
	err = Login(context.Background(), r.host, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing plain HTTP to registry "+r.host) {
		t.Errorf("secure registry over HTTP: %v", err)
	}
}
