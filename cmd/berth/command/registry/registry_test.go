package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// fakeAPI accepts one user name and password.
type fakeAPI struct {
	user, password string
	calls          []client.RegistryLoginOptions
}

func (f *fakeAPI) RegistryLogin(_ context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	f.calls = append(f.calls, o)
	if o.Username != f.user || o.Password != f.password {
		return client.RegistryLoginResult{}, cerrdefs.ErrUnauthenticated.WithMessage("login attempt to http://r/v2/ failed with status: 401 Unauthorized")
	}
	return client.RegistryLoginResult{Auth: registry.AuthResponse{Status: "Login Succeeded"}}, nil
}

func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoginStoresCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker", "config.json")
	// The docker CLI's other settings survive.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"psFormat":"table {{.ID}}","auths":{"other:5000":{"auth":"eDp5"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{user: "u", password: "p"}
	var out, errOut bytes.Buffer
	err := runLogin(context.Background(), api, strings.NewReader(""), &out, &errOut, loginOptions{server: "r:5000", user: "u", password: "p", configPath: path})
	if err != nil || out.String() != "Login Succeeded\n" || !strings.Contains(errOut.String(), "WARNING! Using --password via the CLI is insecure") {
		t.Fatalf("login: %v, out %q, err %q", err, out.String(), errOut.String())
	}
	cfg := readConfig(t, path)
	auths, _ := cfg["auths"].(map[string]any)
	if cfg["psFormat"] != "table {{.ID}}" || auths["other:5000"] == nil {
		t.Errorf("other settings lost: %v", cfg)
	}
	if e, _ := auths["r:5000"].(map[string]any); e["auth"] != base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Errorf("stored %v", auths)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v (%v)", fi.Mode(), err)
	}

	// No credentials given: the stored ones are used, under any spelling
	// of the server.
	api.calls, out = nil, bytes.Buffer{}
	errOut.Reset()
	if err := runLogin(context.Background(), api, strings.NewReader(""), &out, &errOut, loginOptions{server: "http://r:5000/", configPath: path}); err != nil {
		t.Fatal(err)
	}
	if len(api.calls) != 1 || api.calls[0].Username != "u" || !strings.Contains(errOut.String(), "Authenticating with existing credentials... [Username: u]") {
		t.Errorf("stored credentials: calls %+v, stderr %q", api.calls, errOut.String())
	}

	// Stored credentials that no longer work, and no terminal to ask on.
	api.password = "new"
	errOut.Reset()
	err = runLogin(context.Background(), api, strings.NewReader(""), &out, &errOut, loginOptions{server: "r:5000", configPath: path})
	if err == nil || err.Error() != "Error: Cannot perform an interactive login from a non TTY device" || !strings.Contains(errOut.String(), "Stored credentials invalid or expired") {
		t.Errorf("stale credentials: %v, stderr %q", err, errOut.String())
	}

	// --password-stdin; a refused login stores nothing.
	err = runLogin(context.Background(), api, strings.NewReader("bad\n"), &out, &errOut, loginOptions{server: "r2", user: "u", passwordStdin: true, configPath: path})
	if !cerrdefs.IsUnauthorized(err) {
		t.Errorf("refused login: %v", err)
	}
	if auths := readConfig(t, path)["auths"].(map[string]any); auths["r2"] != nil {
		t.Errorf("a refused login was stored: %v", auths)
	}
	if err := runLogin(context.Background(), api, strings.NewReader("new\r\n"), &out, &errOut, loginOptions{server: "r2", user: "u", passwordStdin: true, configPath: path}); err != nil {
		t.Fatalf("--password-stdin: %v", err)
	}
	if api.calls[len(api.calls)-1].Password != "new" {
		t.Errorf("password from stdin %q", api.calls[len(api.calls)-1].Password)
	}

	// Docker Hub by default.
	api.user, api.password = "hub", "pw"
	if err := runLogin(context.Background(), api, strings.NewReader(""), &out, &errOut, loginOptions{user: "hub", password: "pw", configPath: path}); err != nil {
		t.Fatal(err)
	}
	if got := api.calls[len(api.calls)-1].ServerAddress; got != IndexServer {
		t.Errorf("default server %q", got)
	}
}

func TestLogout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":{"r:5000":{"auth":"dTpw"},"https://r:5000/v1/":{"auth":"dTpw"},"`+IndexServer+`":{"auth":"dTpw"},"keep":{"auth":"dTpw"}},"detachKeys":"ctrl-x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runLogout(&out, path, "http://r:5000"); err != nil || out.String() != "Removing login credentials for r:5000\n" {
		t.Fatalf("logout: %v %q", err, out.String())
	}
	out.Reset()
	if err := runLogout(&out, path, "r:5000"); err != nil || out.String() != "Not logged in to r:5000\n" {
		t.Fatalf("second logout: %v %q", err, out.String())
	}
	out.Reset()
	if err := runLogout(&out, path, ""); err != nil || out.String() != "Removing login credentials for "+IndexServer+"\n" {
		t.Fatalf("Hub logout: %v %q", err, out.String())
	}
	cfg := readConfig(t, path)
	auths := cfg["auths"].(map[string]any)
	if len(auths) != 1 || auths["keep"] == nil || cfg["detachKeys"] != "ctrl-x" {
		t.Errorf("left %v", cfg)
	}
	// No file: nothing to log out of.
	out.Reset()
	if err := runLogout(&out, filepath.Join(t.TempDir(), "none.json"), "r"); err != nil || out.String() != "Not logged in to r\n" {
		t.Errorf("no file: %v %q", err, out.String())
	}
}

func TestLoginBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runLogin(context.Background(), &fakeAPI{}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, loginOptions{user: "u", password: "p", configPath: path})
	if err == nil || !strings.Contains(err.Error(), "loading config file "+path) {
		t.Errorf("malformed config.json: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"auths":{"r":{"auth":"!!"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = runLogin(context.Background(), &fakeAPI{}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, loginOptions{server: "r", configPath: path})
	if err == nil || !strings.Contains(err.Error(), "invalid auth configuration file") {
		t.Errorf("undecodable auth: %v", err)
	}
}
