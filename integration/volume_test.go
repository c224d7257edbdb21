package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/volume"
)

const anonymousLabel = "com.docker.volume.anonymous"

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestVolumeCreateInspect(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for i, prefix := range pathPrefixes {
		name := "vol" + string(rune('a'+i))
		labels := map[string]string{"app": "web", "empty": ""}
		r := d.do(http.MethodPost, prefix+"/volumes/create", volume.CreateRequest{Name: name, Driver: "local", Labels: labels})
		expectStatus(t, r, http.StatusCreated, "POST "+prefix+"/volumes/create")
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var v volume.Volume
		r.decode(t, &v)
		if v.Name != name || v.Driver != "local" || v.Scope != "local" {
			t.Errorf("created %+v, want name %s, driver and scope local", v, name)
		}
		if !maps(v.Labels, labels) {
			t.Errorf("Labels = %v, want %v", v.Labels, labels)
		}
		if _, err := time.Parse(time.RFC3339, v.CreatedAt); err != nil {
			t.Errorf("CreatedAt %q is not RFC 3339: %v", v.CreatedAt, err)
		}
		if !strings.HasPrefix(v.Mountpoint, d.dataRoot+string(os.PathSeparator)) {
			t.Errorf("Mountpoint %q is not under the data root %q", v.Mountpoint, d.dataRoot)
		}
		if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
			t.Errorf("Mountpoint %q is not a directory: %v", v.Mountpoint, err)
		}

		r = d.do(http.MethodGet, prefix+"/volumes/"+name, nil)
		expectStatus(t, r, http.StatusOK, "GET "+prefix+"/volumes/"+name)
		var got volume.Volume
		r.decode(t, &got)
		if got.Name != v.Name || got.Mountpoint != v.Mountpoint || got.CreatedAt != v.CreatedAt || got.Driver != v.Driver || !maps(got.Labels, v.Labels) {
			t.Errorf("inspect %+v differs from create %+v", got, v)
		}
	}
	// Options are kept.
	r := d.do(http.MethodPost, "/volumes/create", volume.CreateRequest{Name: "withopts", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}})
	expectStatus(t, r, http.StatusCreated, "create with options")
	var v volume.Volume
	r.decode(t, &v)
	if v.Options["type"] != "tmpfs" || v.Options["o"] != "size=1m" {
		t.Errorf("Options = %v", v.Options)
	}
	// A one-character name is a valid local volume name in Berth.
	d.createVolume("x", nil)
	// So is a 255-character one.
	long := strings.Repeat("n", 255)
	if v := d.createVolume(long, nil); v.Name != long {
		t.Errorf("created %q, want the 255-character name", v.Name)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestVolumeCreateAnonymous(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, body := range []any{`{}`, `{"Name":""}`, volume.CreateRequest{Labels: map[string]string{"k": "v"}}, nil} {
		r := d.do(http.MethodPost, "/volumes/create", body)
		expectStatus(t, r, http.StatusCreated, "anonymous create")
		var v volume.Volume
		r.decode(t, &v)
		if !hex64.MatchString(v.Name) {
			t.Errorf("anonymous volume name %q is not 64 hex digits", v.Name)
		}
		if _, ok := v.Labels[anonymousLabel]; !ok {
			t.Errorf("anonymous volume labels %v lack %s", v.Labels, anonymousLabel)
		}
		if _, isReq := body.(volume.CreateRequest); isReq && v.Labels["k"] != "v" {
			t.Errorf("anonymous volume labels %v lack k=v", v.Labels)
		}
		r = d.do(http.MethodGet, "/volumes/"+v.Name, nil)
		expectStatus(t, r, http.StatusOK, "inspect anonymous volume")
	}
	if n := len(d.listVolumes("")); n != 4 {
		t.Errorf("%d volumes, want 4 distinct anonymous ones", n)
	}
	// A named volume does not get the label.
	if v := d.createVolume("named", nil); len(v.Labels) != 0 {
		t.Errorf("named volume labels %v, want none", v.Labels)
	}
}

func TestVolumeList(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	d.createVolume("alpha", map[string]string{"env": "prod", "team": "a"})
	d.createVolume("alphabet", map[string]string{"env": "dev"})
	d.createVolume("beta", nil)
	anon := d.createVolume("", nil)

	for _, prefix := range pathPrefixes {
		r := d.do(http.MethodGet, prefix+"/volumes", nil)
		expectStatus(t, r, http.StatusOK, "GET "+prefix+"/volumes")
		var l volume.ListResponse
		r.decode(t, &l)
		if len(l.Volumes) != 4 {
			t.Errorf("GET %s/volumes: %d volumes, want 4", prefix, len(l.Volumes))
		}
		var raw map[string]json.RawMessage
		r.decode(t, &raw)
		if _, ok := raw["Volumes"]; !ok {
			t.Errorf("GET /volumes body %s has no Volumes", r.body)
		}
	}

	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	cases := []struct {
		name  string
		query string
		want  []string
	}{
		{"name substring", filtersQuery(map[string][]string{"name": {"alpha"}}), []string{"alpha", "alphabet"}},
		{"name regexp", filtersQuery(map[string][]string{"name": {"^beta$"}}), []string{"beta"}},
		{"name two values", filtersQuery(map[string][]string{"name": {"^alpha$", "beta"}}), []string{"alpha", "beta"}},
		{"name no match", filtersQuery(map[string][]string{"name": {"gamma"}}), nil},
		{"name legacy", "filters=" + url.QueryEscape(`{"name":["beta"]}`), []string{"beta"}},
		{"name current", "filters=" + url.QueryEscape(`{"name":{"beta":true}}`), []string{"beta"}},
		{"label key", filtersQuery(map[string][]string{"label": {"env"}}), []string{"alpha", "alphabet"}},
		{"label key=value", filtersQuery(map[string][]string{"label": {"env=prod"}}), []string{"alpha"}},
		{"label two", filtersQuery(map[string][]string{"label": {"env=prod", "team=a"}}), []string{"alpha"}},
		{"label legacy", "filters=" + url.QueryEscape(`{"label":["env=dev"]}`), []string{"alphabet"}},
		{"label anonymous", filtersQuery(map[string][]string{"label": {anonymousLabel}}), []string{anon.Name}},
		{"driver local", filtersQuery(map[string][]string{"driver": {"local"}}), []string{"alpha", "alphabet", "beta", anon.Name}},
		{"driver other", filtersQuery(map[string][]string{"driver": {"nfs"}}), nil},
		{"dangling true", filtersQuery(map[string][]string{"dangling": {"true"}}), []string{"alpha", "alphabet", "beta", anon.Name}},
		{"dangling 1", filtersQuery(map[string][]string{"dangling": {"1"}}), []string{"alpha", "alphabet", "beta", anon.Name}},
		{"dangling false", filtersQuery(map[string][]string{"dangling": {"false"}}), nil},
		{"combined", filtersQuery(map[string][]string{"name": {"alpha"}, "label": {"env=dev"}, "driver": {"local"}}), []string{"alphabet"}},
		{"empty filters", "filters=" + url.QueryEscape(`{}`), []string{"alpha", "alphabet", "beta", anon.Name}},
	}
	for _, c := range cases {
		got := sorted(d.volumeNames(c.query))
		if strings.Join(got, ",") != strings.Join(sorted(c.want), ",") {
			t.Errorf("%s: got %v, want %v", c.name, got, sorted(c.want))
		}
		// Versioned path, same answer.
		r := d.do(http.MethodGet, "/v"+apiVersion+"/volumes?"+c.query, nil)
		expectStatus(t, r, http.StatusOK, c.name+" (versioned)")
	}
}

func TestVolumeListBadFilters(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, c := range []struct{ name, query, want string }{
		{"unknown key", filtersQuery(map[string][]string{"bogus": {"x"}}), "invalid filter 'bogus'"},
		{"malformed", "filters=" + url.QueryEscape(`{"name":`), "invalid filter"},
		{"not an object", "filters=" + url.QueryEscape(`["name"]`), "invalid filter"},
		{"dangling not bool", filtersQuery(map[string][]string{"dangling": {"maybe"}}), "dangling"},
	} {
		for _, prefix := range []string{"", "/v" + apiVersion} {
			r := d.do(http.MethodGet, prefix+"/volumes?"+c.query, nil)
			expectError(t, r, http.StatusBadRequest, c.want, "GET /volumes "+c.name)
		}
	}
}

func TestVolumeRemove(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range pathPrefixes {
		v := d.createVolume("gone", nil)
		if err := os.WriteFile(filepath.Join(v.Mountpoint, "data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := d.do(http.MethodDelete, prefix+"/volumes/gone", nil)
		expectStatus(t, r, http.StatusNoContent, "DELETE "+prefix+"/volumes/gone")
		if len(r.body) != 0 {
			t.Errorf("DELETE body %q, want none", r.body)
		}
		if _, err := os.Stat(v.Mountpoint); !os.IsNotExist(err) {
			t.Errorf("Mountpoint %s still there after remove: %v", v.Mountpoint, err)
		}
		r = d.do(http.MethodGet, prefix+"/volumes/gone", nil)
		expectError(t, r, http.StatusNotFound, "no such volume", "inspect removed volume")
		r = d.do(http.MethodDelete, prefix+"/volumes/gone", nil)
		expectError(t, r, http.StatusNotFound, "no such volume", "remove removed volume")
		for _, force := range []string{"1", "true", "True"} {
			r = d.do(http.MethodDelete, prefix+"/volumes/gone?force="+force, nil)
			expectStatus(t, r, http.StatusNoContent, "force-remove missing volume (force="+force+")")
		}
		r = d.do(http.MethodDelete, prefix+"/volumes/gone?force=0", nil)
		expectError(t, r, http.StatusNotFound, "no such volume", "remove missing volume with force=0")
	}
	// force on an existing volume removes it.
	d.createVolume("forced", nil)
	expectStatus(t, d.do(http.MethodDelete, "/volumes/forced?force=1", nil), http.StatusNoContent, "force-remove")
	if n := len(d.listVolumes("")); n != 0 {
		t.Errorf("%d volumes left, want 0", n)
	}
	r := d.do(http.MethodGet, "/volumes/nosuch", nil)
	expectError(t, r, http.StatusNotFound, "no such volume", "inspect missing")
	if !strings.Contains(r.message(), "nosuch") {
		t.Errorf("message %q does not name the volume", r.message())
	}
}

// writeData puts n bytes in the volume's data directory.
func writeData(t testing.TB, v volume.Volume, n int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "payload"), make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *daemon) prune(path string) volume.PruneReport {
	d.t.Helper()
	r := d.do(http.MethodPost, path, nil)
	expectStatus(d.t, r, http.StatusOK, "POST "+path)
	var rep volume.PruneReport
	r.decode(d.t, &rep)
	return rep
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestVolumePruneAnonymousOnly(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, prefix := range []string{"", "/v" + apiVersion, "/v1.42"} {
		named := d.createVolume("named", nil)
		writeData(t, named, 4096)
		a1 := d.createVolume("", nil)
		a2 := d.createVolume("", nil)
		writeData(t, a2, 64<<10)

		rep := d.prune(prefix + "/volumes/prune")
		if !sameSet(rep.VolumesDeleted, []string{a1.Name, a2.Name}) {
			t.Errorf("%s prune deleted %v, want the anonymous %s and %s", prefix, rep.VolumesDeleted, a1.Name, a2.Name)
		}
		if rep.SpaceReclaimed < 64<<10 {
			t.Errorf("%s prune SpaceReclaimed = %d, want at least %d", prefix, rep.SpaceReclaimed, 64<<10)
		}
		if got := d.volumeNames(""); !sameSet(got, []string{"named"}) {
			t.Errorf("%s after prune: volumes %v, want [named]", prefix, got)
		}
		// Nothing left to prune.
		rep = d.prune(prefix + "/volumes/prune")
		if len(rep.VolumesDeleted) != 0 || rep.SpaceReclaimed != 0 {
			t.Errorf("second prune: %+v, want nothing", rep)
		}
		// all=true takes the named ones too.
		rep = d.prune(prefix + "/volumes/prune?" + filtersQuery(map[string][]string{"all": {"true"}}))
		if !sameSet(rep.VolumesDeleted, []string{"named"}) || rep.SpaceReclaimed < 4096 {
			t.Errorf("%s prune all=true: %+v, want [named] and >= 4096 bytes", prefix, rep)
		}
		if n := len(d.listVolumes("")); n != 0 {
			t.Fatalf("%d volumes left, want 0", n)
		}
		d.expectQuota(0, 0)
	}
}

func TestVolumePruneOldAPIRemovesNamed(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	for _, v := range []string{"1.41", "1.24"} {
		d.createVolume("named", nil)
		a := d.createVolume("", nil)
		rep := d.prune("/v" + v + "/volumes/prune")
		if !sameSet(rep.VolumesDeleted, []string{"named", a.Name}) {
			t.Errorf("/v%s prune deleted %v, want named and anonymous", v, rep.VolumesDeleted)
		}
		if n := len(d.listVolumes("")); n != 0 {
			t.Errorf("%d volumes left, want 0", n)
		}
	}
}

func TestVolumePruneLabelFilters(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	d.createVolume("keep", map[string]string{"keep": "yes"})
	d.createVolume("tmp1", map[string]string{"tmp": "1"})
	d.createVolume("tmp2", map[string]string{"tmp": "2"})
	anonTmp := d.createVolume("", map[string]string{"tmp": "1"})
	anonPlain := d.createVolume("", nil)

	// Anonymous only, narrowed by label.
	rep := d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"label": {"tmp"}}))
	if !sameSet(rep.VolumesDeleted, []string{anonTmp.Name}) {
		t.Errorf("prune label=tmp deleted %v, want %s", rep.VolumesDeleted, anonTmp.Name)
	}
	// All, label with a value.
	rep = d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"all": {"1"}, "label": {"tmp=1"}}))
	if !sameSet(rep.VolumesDeleted, []string{"tmp1"}) {
		t.Errorf("prune all label=tmp=1 deleted %v, want [tmp1]", rep.VolumesDeleted)
	}
	// label!: everything but the kept one.
	rep = d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"all": {"true"}, "label!": {"keep"}}))
	if !sameSet(rep.VolumesDeleted, []string{"tmp2", anonPlain.Name}) {
		t.Errorf("prune all label!=keep deleted %v, want tmp2 and %s", rep.VolumesDeleted, anonPlain.Name)
	}
	if got := d.volumeNames(""); !sameSet(got, []string{"keep"}) {
		t.Errorf("volumes left %v, want [keep]", got)
	}
	// Legacy filter form.
	rep = d.prune("/volumes/prune?filters=" + url.QueryEscape(`{"all":["true"],"label":["keep=yes"]}`))
	if !sameSet(rep.VolumesDeleted, []string{"keep"}) {
		t.Errorf("legacy-form prune deleted %v, want [keep]", rep.VolumesDeleted)
	}
	// Bad filters.
	for _, c := range []struct{ name, query, want string }{
		{"unknown key", filtersQuery(map[string][]string{"dangling": {"true"}}), "invalid filter 'dangling'"},
		{"all not bool", filtersQuery(map[string][]string{"all": {"maybe"}}), "all"},
		{"malformed", "filters=" + url.QueryEscape(`{`), "invalid filter"},
	} {
		r := d.do(http.MethodPost, "/volumes/prune?"+c.query, nil)
		expectError(t, r, http.StatusBadRequest, c.want, "prune "+c.name)
	}
}

func TestVolumeCreateBadInputs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 5})
	for _, c := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"truncated JSON", `{"Name": "x"`, http.StatusBadRequest, "invalid JSON"},
		{"not JSON", `Name=x`, http.StatusBadRequest, "invalid JSON"},
		{"wrong type", `{"Name": 42}`, http.StatusBadRequest, "invalid JSON"},
		{"array", `["x"]`, http.StatusBadRequest, "invalid JSON"},
		{"trailing data", `{"Name":"x"} {"Name":"y"}`, http.StatusBadRequest, "invalid JSON"},
		{"name ../x", volume.CreateRequest{Name: "../x"}, http.StatusBadRequest, "../x"},
		{"name /x", volume.CreateRequest{Name: "/x"}, http.StatusBadRequest, "/x"},
		{"name a//b", volume.CreateRequest{Name: "a//b"}, http.StatusBadRequest, "a//b"},
		{"name a/b", volume.CreateRequest{Name: "a/b"}, http.StatusBadRequest, "a/b"},
		{"name ..", volume.CreateRequest{Name: ".."}, http.StatusBadRequest, ".."},
		{"name .", volume.CreateRequest{Name: "."}, http.StatusBadRequest, "."},
		{"name -x", volume.CreateRequest{Name: "-x"}, http.StatusBadRequest, "-x"},
		{"name with space", volume.CreateRequest{Name: "a b"}, http.StatusBadRequest, "a b"},
		{"name with NUL", volume.CreateRequest{Name: "a\x00b"}, http.StatusBadRequest, "invalid"},
		{"name 300 chars", volume.CreateRequest{Name: strings.Repeat("a", 300)}, http.StatusBadRequest, "too long"},
		{"name 256 chars", volume.CreateRequest{Name: strings.Repeat("a", 256)}, http.StatusBadRequest, "too long"},
		{"unknown driver", volume.CreateRequest{Name: "x", Driver: "nosuchdriver"}, http.StatusNotFound, "nosuchdriver"},
		{"unknown driver, anonymous", volume.CreateRequest{Driver: "nosuchdriver"}, http.StatusNotFound, "nosuchdriver"},
		{"unknown option", volume.CreateRequest{Name: "x", DriverOpts: map[string]string{"bogus": "1"}}, http.StatusBadRequest, "bogus"},
		{"option without its companion", volume.CreateRequest{Name: "x", DriverOpts: map[string]string{"type": "tmpfs"}}, http.StatusBadRequest, "device"},
	} {
		for _, prefix := range []string{"", "/v" + apiVersion} {
			r := d.do(http.MethodPost, prefix+"/volumes/create", c.body)
			expectError(t, r, c.status, c.want, "create "+c.name)
		}
	}
	// Nothing was created, no slot was taken, and nothing is left on disk.
	d.expectQuota(5, 0)
	entries, _ := os.ReadDir(filepath.Join(d.dataRoot, "volumes"))
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("directory %s left in the volumes root after refused creates", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(d.dataRoot, "x")); err == nil {
		t.Errorf("a refused create made %s", filepath.Join(d.dataRoot, "x"))
	}
	// The quota still allows 5.
	for _, n := range []string{"v1", "v2", "v3", "v4", "v5"} {
		d.createVolume(n, nil)
	}
	d.expectQuota(5, 5)
}

func TestVolumeRecreateReturnsExisting(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	first := d.createVolume("same", map[string]string{"a": "1"})
	// Re-creating with the same driver (named or defaulted) returns the volume.
	for _, req := range []volume.CreateRequest{{Name: "same"}, {Name: "same", Driver: "local"}, {Name: "same", Labels: map[string]string{"b": "2"}}} {
		r := d.do(http.MethodPost, "/volumes/create", req)
		expectStatus(t, r, http.StatusCreated, "re-create")
		var v volume.Volume
		r.decode(t, &v)
		if v.Name != first.Name || v.Mountpoint != first.Mountpoint || v.CreatedAt != first.CreatedAt || !maps(v.Labels, first.Labels) {
			t.Errorf("re-create returned %+v, want the existing %+v", v, first)
		}
	}
	if n := len(d.listVolumes("")); n != 1 {
		t.Errorf("%d volumes after re-creates, want 1", n)
	}
}

// TestVolumePruneSpaceReclaimedLikeDocker checks SpaceReclaimed the way
// Docker computes it (pkg/directory.Size): the sum of the sizes of the
// regular files in the volume, hard links counted once, directories and
// empty files not counted. An empty volume reclaims 0 bytes.
func TestVolumePruneSpaceReclaimedLikeDocker(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	empty := d.createVolume("", nil)
	rep := d.prune("/volumes/prune")
	if !sameSet(rep.VolumesDeleted, []string{empty.Name}) || rep.SpaceReclaimed != 0 {
		t.Errorf("prune of an empty volume: %+v, want it deleted and SpaceReclaimed 0 (as Docker)", rep)
	}

	v := d.createVolume("", nil)
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "a"), make([]byte, 1234), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(v.Mountpoint, "a"), filepath.Join(v.Mountpoint, "a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(v.Mountpoint, "sub", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "sub", "dir", "b"), make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "sub", "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep = d.prune("/volumes/prune")
	if rep.SpaceReclaimed != 1334 {
		t.Errorf("prune SpaceReclaimed = %d, want 1334 (the files' sizes, as Docker reports)", rep.SpaceReclaimed)
	}
}
