package system

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
)

// loginBackend is a Backend whose AuthenticateToRegistry accepts one user.
type loginBackend struct {
	Backend
	got *registry.AuthConfig
}

func (b *loginBackend) AuthenticateToRegistry(_ context.Context, a *registry.AuthConfig) (string, string, error) {
	b.got = a
	if a.Username != "u" || a.Password != "p" {
		return "", "", cerrdefs.ErrUnauthenticated.WithMessage("login attempt to http://r/v2/ failed with status: 401 Unauthorized")
	}
	return "Login Succeeded", "", nil
}

func TestAuth(t *testing.T) {
	b := &loginBackend{}
	s := New(b)
	post := func(body string) (*httptest.ResponseRecorder, error) {
		req := httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		return w, s.auth(context.Background(), w, req, nil)
	}
	w, err := post(`{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}`)
	if err != nil || w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"IdentityToken":"","Status":"Login Succeeded"}` {
		t.Fatalf("good login: %v %d %s", err, w.Code, w.Body)
	}
	if b.got.ServerAddress != "127.0.0.1:5000" {
		t.Errorf("backend got %+v", b.got)
	}
	if _, err := post(`{"username":"u","password":"x"}`); !cerrdefs.IsUnauthorized(err) {
		t.Errorf("bad password: %v", err)
	}
	if _, err := post(`{"username":`); !cerrdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("malformed body: %v", err)
	}
}
