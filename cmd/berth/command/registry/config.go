// Package registry holds `berth login` and `berth logout`, which keep
// registry credentials where the docker CLI keeps them: the "auths" of
// config.json in $DOCKER_CONFIG, else ~/.docker, each entry's "auth" the
// base64 of user:password. Both CLIs read what the other wrote; credential
// helpers (credsStore) are not supported.
package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IndexServer is the key Docker Hub's credentials are stored under.
const IndexServer = "https://index.docker.io/v1/"

// ConfigPath is the docker CLI's config.json: in $DOCKER_CONFIG, else in
// ~/.docker.
func ConfigPath() string {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

// authEntry is one registry's entry in "auths".
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// configFile is a config.json, with the keys berth does not use kept as
// they are so that saving it loses none of the docker CLI's settings.
type configFile struct {
	path  string
	other map[string]json.RawMessage
	auths map[string]authEntry
}

// loadConfig reads path; a missing file is an empty configuration.
func loadConfig(path string) (*configFile, error) {
	c := &configFile{path: path, other: map[string]json.RawMessage{}, auths: map[string]authEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading config file: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(b, &c.other); err != nil {
		return nil, fmt.Errorf("loading config file %s: %w", path, err)
	}
	if raw, ok := c.other["auths"]; ok {
		if err := json.Unmarshal(raw, &c.auths); err != nil {
			return nil, fmt.Errorf("loading config file %s: auths: %w", path, err)
		}
		delete(c.other, "auths")
	}
	return c, nil
}

// save writes the file atomically, readable by its owner only, as the
// docker CLI does (it holds passwords).
func (c *configFile) save() error {
	out := make(map[string]any, len(c.other)+1)
	for k, v := range c.other {
		out[k] = v
	}
	out["auths"] = c.auths
	b, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("saving config file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".config.json-*")
	if err != nil {
		return fmt.Errorf("saving config file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving config file: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("saving config file: %w", err)
	}
	return nil
}

// credentials are the stored login for a server.
type credentials struct {
	key                             string // the "auths" key they are under
	username, password, identityTok string
}

// lookup finds server's entry as docker does: under its own key, else
// under a key naming the same host with a scheme or path (older CLIs
// stored "https://host/v1/").
func (c *configFile) lookup(server string) (credentials, bool, error) {
	key, ok := server, false
	if _, ok = c.auths[key]; !ok {
		host := hostname(server)
		for k := range c.auths {
			if hostname(k) == host {
				key, ok = k, true
				break
			}
		}
	}
	if !ok {
		return credentials{}, false, nil
	}
	e := c.auths[key]
	cr := credentials{key: key, identityTok: e.IdentityToken}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return credentials{}, false, fmt.Errorf("invalid auth configuration file: %s: %w", key, err)
		}
		user, pass, found := strings.Cut(string(b), ":")
		if !found || user == "" {
			return credentials{}, false, fmt.Errorf("invalid auth configuration file: %s", key)
		}
		cr.username, cr.password = user, strings.Trim(pass, "\x00")
	}
	return cr, true, nil
}

// store records a login under server; an identity token, when the
// registry gave one, replaces the password, as docker stores it.
func (c *configFile) store(server, username, password, identityToken string) {
	e := authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(username + ":" + password))}
	if identityToken != "" {
		e = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(username + ":")), IdentityToken: identityToken}
	}
	c.auths[server] = e
}

// erase removes every entry naming server's host; it returns the keys
// removed.
func (c *configFile) erase(server string) []string {
	host := hostname(server)
	var removed []string
	for k := range c.auths {
		if k == server || hostname(k) == host {
			delete(c.auths, k)
			removed = append(removed, k)
		}
	}
	return removed
}

// hostname is the host[:port] of a server address: without a scheme or
// path.
func hostname(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "http://"), "https://")
	host, _, _ := strings.Cut(s, "/")
	return host
}
