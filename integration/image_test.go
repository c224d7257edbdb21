package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"
)

// The image facts from ../shared/fixtures/README.md.
const (
	busyboxID      = "sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806"
	busyboxDiffID  = "sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce"
	layeredID      = "sha256:7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80"
	layeredOCIID   = "sha256:c9867afb8f2e3ad080316bfae99f753997bc522aa995959664a080bf174beedf" // skopeo rewrote the config
	layeredDiffID2 = "sha256:6e548d763b6ecb963399c965b75ae6eae55aea52f68f2f4e81ec1348c3b2c050"
	layeredDiffID3 = "sha256:ae321be16429345f29e813732386b32def18a67fc8f328f9a9bc154e0a61f8ae"
)

// fixture returns the path of a shared fixture, skipping when absent.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "shared", "fixtures", name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("fixture %s not available: %v", name, err)
	}
	return b
}

// storageDrivers runs f once per graph driver, each on its own daemon.
func storageDrivers(t *testing.T, f func(t *testing.T, d *daemon)) {
	for _, drv := range []string{"overlay2", "vfs"} {
		t.Run(drv, func(t *testing.T) {
			t.Parallel()
			f(t, startDaemon(t, daemonOpts{args: []string{"--storage-driver", drv}}))
		})
	}
}

// streamError returns the error message in a JSON message stream, if any.
func streamError(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var m struct {
			Error       string
			ErrorDetail *struct{ Message string } `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			return ""
		}
		if m.ErrorDetail != nil {
			return m.ErrorDetail.Message
		}
	}
}

func (d *daemon) load(t testing.TB, archive []byte) string {
	t.Helper()
	r := d.do("POST", "/v1.44/images/load", archive)
	expectStatus(t, r, 200, "POST /images/load")
	if msg := streamError(r.body); msg != "" {
		t.Fatalf("load failed in the stream: %s", msg)
	}
	return string(r.body)
}

func (d *daemon) images(t testing.TB, query string) []imagetypes.Summary {
	t.Helper()
	r := d.do("GET", "/v1.44/images/json"+query, nil)
	expectStatus(t, r, 200, "GET /images/json")
	var out []imagetypes.Summary
	r.decode(t, &out)
	return out
}

func (d *daemon) inspectImage(t testing.TB, name string) imagetypes.InspectResponse {
	t.Helper()
	r := d.do("GET", "/v1.44/images/"+name+"/json", nil)
	expectStatus(t, r, 200, "inspect "+name)
	var out imagetypes.InspectResponse
	r.decode(t, &out)
	return out
}

func TestImageLoadFixtures(t *testing.T) {
	t.Parallel()
	storageDrivers(t, func(t *testing.T, d *daemon) {
		out := d.load(t, fixture(t, "busybox-docker-save.tar"))
		if !strings.Contains(out, "Loaded image: busybox:latest") {
			t.Errorf("load output lacks the loaded line:\n%s", out)
		}
		d.load(t, fixture(t, "layered-docker-save.tar"))

		bb := d.inspectImage(t, "busybox")
		if bb.ID != busyboxID || len(bb.RootFS.Layers) != 1 || bb.RootFS.Layers[0] != busyboxDiffID {
			t.Errorf("busybox: id %s layers %v", bb.ID, bb.RootFS.Layers)
		}
		l := d.inspectImage(t, "fixture/layered:1.0")
		if l.ID != layeredID {
			t.Errorf("layered id %s", l.ID)
		}
		if want := []string{busyboxDiffID, layeredDiffID2, layeredDiffID3}; fmt.Sprint(l.RootFS.Layers) != fmt.Sprint(want) {
			t.Errorf("layered diff ids %v", l.RootFS.Layers)
		}
		c := l.Config
		if fmt.Sprint(c.Env) != "[PATH=/usr/local/bin:/bin GREETING=hello]" || c.WorkingDir != "/srv/www" ||
			c.Labels["org.example.fixture"] != "layered" || len(c.Volumes) != 1 || len(c.ExposedPorts) != 1 {
			t.Errorf("layered config: %+v", c)
		}
		if l.GraphDriver == nil || l.GraphDriver.Name != filepath.Base(t.Name()) {
			t.Errorf("GraphDriver = %+v", l.GraphDriver)
		}

		r := d.do("GET", "/v1.44/images/fixture/layered:1.0/history", nil)
		expectStatus(t, r, 200, "history")
		var hist []imagetypes.HistoryResponseItem
		r.decode(t, &hist)
		if len(hist) != 9 || hist[0].ID != layeredID || hist[len(hist)-1].Size == 0 {
			t.Errorf("history: %d rows, top %q", len(hist), hist[0].ID)
		}

		// The OCI archive of the same image shares every layer.
		d.load(t, fixture(t, "layered-oci.tar"))
		if oci := d.inspectImage(t, "fixture/layered:1.0"); oci.ID != layeredOCIID || fmt.Sprint(oci.RootFS.Layers) != fmt.Sprint(l.RootFS.Layers) {
			t.Errorf("OCI load: id %s layers %v", oci.ID, oci.RootFS.Layers)
		}
		// The docker-save copy lost its tag to the OCI one: it is dangling now.
		dangling := d.images(t, "?"+filtersQuery(map[string][]string{"dangling": {"true"}}))
		if len(dangling) != 1 || dangling[0].ID != layeredID {
			t.Errorf("dangling images: %+v", dangling)
		}
		if info := d.info(); info.Images != 3 {
			t.Errorf("info.Images = %d, want 3", info.Images)
		}
	})
}

func TestImageSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	storageDrivers(t, func(t *testing.T, d *daemon) {
		d.load(t, fixture(t, "busybox-docker-save.tar"))
		d.load(t, fixture(t, "layered-docker-save.tar"))
		r := d.do("GET", "/v1.44/images/get?names=busybox&names=fixture/layered:1.0", nil)
		expectStatus(t, r, 200, "save")
		first := r.body

		other := startDaemon(t, daemonOpts{args: []string{"--storage-driver", filepath.Base(t.Name())}})
		other.load(t, first)
		if id := other.inspectImage(t, "fixture/layered:1.0").ID; id != layeredID {
			t.Errorf("after round trip: %s", id)
		}
		if id := other.inspectImage(t, "busybox:latest").ID; id != busyboxID {
			t.Errorf("after round trip: %s", id)
		}
		again := other.do("GET", "/v1.44/images/get?names=busybox&names=fixture/layered:1.0", nil)
		if !bytes.Equal(again.body, first) {
			t.Errorf("second save differs from the first (%d vs %d bytes)", len(again.body), len(first))
		}
		expectError(t, d.do("GET", "/v1.44/images/get?names=nope", nil), 404, "No such image: nope:latest", "save of a missing image")
	})
}

func TestImageLoadCorruptLeavesNothing(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	good := fixture(t, "layered-docker-save.tar")
	for _, cut := range []int{100, len(good) / 3, len(good) - 1024} {
		r := d.do("POST", "/v1.44/images/load", good[:cut])
		msg := r.message()
		if r.status == 200 {
			msg = streamError(r.body)
		} else if r.status != 400 {
			t.Errorf("cut at %d: status %d", cut, r.status)
		}
		if msg == "" {
			t.Errorf("cut at %d: no error: %s", cut, r)
		}
	}
	if imgs := d.images(t, "?all=1"); len(imgs) != 0 {
		t.Errorf("a failed load left images: %+v", imgs)
	}
	// Nothing half-registered: after a restart no layer is left either.
	d.stop()
	d.start()
	for _, dir := range []string{"overlay2", "vfs"} {
		entries, _ := os.ReadDir(filepath.Join(d.dataRoot, dir))
		for _, e := range entries {
			if e.Name() != "l" && e.Name() != "dir" && e.Name() != "trash" {
				t.Errorf("layer directory left behind: %s/%s", dir, e.Name())
			}
		}
		// Removed layers are deleted in the background.
		trash := filepath.Join(d.dataRoot, dir, "trash")
		waitFor(t, 10*time.Second, trash+" emptied", func() bool {
			left, _ := os.ReadDir(trash)
			return len(left) == 0
		})
	}
}

func TestImageTagAndDeleteRules(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	d.load(t, fixture(t, "busybox-docker-save.tar"))

	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo=example.com/tools/bb&tag=v1", nil), 201, "tag")
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo=mybox", nil), 201, "tag without tag")
	if tags := d.inspectImage(t, busyboxID).RepoTags; fmt.Sprint(tags) != "[busybox:latest example.com/tools/bb:v1 mybox:latest]" {
		t.Errorf("tags: %v", tags)
	}
	expectError(t, d.do("POST", "/v1.44/images/busybox/tag?repo=Bad_Name", nil), 400, "", "invalid repository")
	expectError(t, d.do("POST", "/v1.44/images/nope/tag?repo=x", nil), 404, "No such image: nope:latest", "tag of a missing image")

	// By reference: only that tag goes.
	r := d.do("DELETE", "/v1.44/images/mybox", nil)
	expectStatus(t, r, 200, "rmi mybox")
	var del []imagetypes.DeleteResponse
	r.decode(t, &del)
	if len(del) != 1 || del[0].Untagged != "mybox:latest" {
		t.Errorf("rmi mybox: %+v", del)
	}
	// By ID with references in several repositories: needs force.
	expectError(t, d.do("DELETE", "/v1.44/images/"+busyboxID[7:19], nil), 409,
		"conflict: unable to delete 7dcaac286bf2 (must be forced) - image is referenced in multiple repositories", "rmi by id")
	r = d.do("DELETE", "/v1.44/images/"+busyboxID[7:19]+"?force=1", nil)
	expectStatus(t, r, 200, "rmi -f")
	del = nil
	r.decode(t, &del)
	var untagged, deleted int
	for _, x := range del {
		if x.Untagged != "" {
			untagged++
		}
		if x.Deleted != "" {
			deleted++
		}
	}
	if untagged != 2 || deleted != 2 { // the image and its one layer
		t.Errorf("rmi -f: %+v", del)
	}
	if imgs := d.images(t, "?all=1"); len(imgs) != 0 {
		t.Errorf("images left: %+v", imgs)
	}
	expectError(t, d.do("DELETE", "/v1.44/images/busybox", nil), 404, "No such image: busybox:latest", "rmi of a missing image")
}

func TestImagePrune(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	d.load(t, fixture(t, "layered-docker-save.tar"))
	d.load(t, fixture(t, "layered-oci.tar")) // takes the tag: the first copy is dangling
	r := d.do("POST", "/v1.44/images/prune", nil)
	expectStatus(t, r, 200, "prune")
	var rep imagetypes.PruneReport
	r.decode(t, &rep)
	if len(rep.ImagesDeleted) != 1 || rep.ImagesDeleted[0].Deleted != layeredID {
		t.Errorf("prune: %+v", rep)
	}
	// Layers are shared with the tagged OCI image: nothing reclaimed.
	if rep.SpaceReclaimed != 0 {
		t.Errorf("reclaimed %d from shared layers", rep.SpaceReclaimed)
	}
	r = d.do("POST", "/v1.44/images/prune?"+filtersQuery(map[string][]string{"dangling": {"false"}}), nil)
	rep = imagetypes.PruneReport{}
	r.decode(t, &rep)
	if rep.SpaceReclaimed == 0 || len(d.images(t, "?all=1")) != 0 {
		t.Errorf("prune -a: %+v", rep)
	}
	expectError(t, d.do("POST", "/v1.44/images/prune?"+filtersQuery(map[string][]string{"bogus": {"1"}}), nil), 400, "invalid filter 'bogus'", "bad filter")
}

// busyboxRootfs is a root filesystem tar with Debian's static busybox and a
// few applet links, as `docker import` users make them.
func busyboxRootfs(t testing.TB) []byte {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static is not installed (apt-get install busybox-static)")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, applet := range []string{"sh", "ls", "cat", "echo"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	tw.Close()
	return buf.Bytes()
}

func TestImageImport(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	rootfs := busyboxRootfs(t)
	q := `?fromSrc=-&repo=imported/bb&tag=v1&changes=` + urlQuery(`CMD ["sh"]`) + `&changes=` + urlQuery("ENV A=b") + `&changes=` + urlQuery("WORKDIR /x")
	r := d.do("POST", "/v1.44/images/create"+q, rootfs)
	expectStatus(t, r, 200, "import")
	if msg := streamError(r.body); msg != "" {
		t.Fatal(msg)
	}
	img := d.inspectImage(t, "imported/bb:v1")
	if fmt.Sprint(img.Config.Cmd) != "[sh]" || fmt.Sprint(img.Config.Env) != "[A=b]" || img.Config.WorkingDir != "/x" || img.Comment != "Imported from -" {
		t.Errorf("imported config: %+v comment %q", img.Config, img.Comment)
	}
	if !strings.Contains(string(r.body), img.ID) {
		t.Errorf("import stream does not report the ID %s: %s", img.ID, r.body)
	}
	r = d.do("POST", "/v1.44/images/create?fromSrc=-&changes="+urlQuery("RUN rm -rf /"), rootfs)
	msg := r.message()
	if r.status == 200 {
		msg = streamError(r.body)
	}
	if !strings.Contains(msg, "is not a valid change command") {
		t.Errorf("RUN as a change: %s", r)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "[", "%5B", "]", "%5D", "/", "%2F", "=", "%3D").Replace(s)
}

func TestImageNotFound(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	expectError(t, d.do("GET", "/v1.44/images/nope/json", nil), 404, "No such image: nope:latest", "inspect")
	expectError(t, d.do("GET", "/v1.44/images/nope:1/history", nil), 404, "No such image: nope:1", "history")
	expectError(t, d.do("GET", "/v1.44/images/json?"+filtersQuery(map[string][]string{"bogus": {"1"}}), nil), 400, "invalid filter 'bogus'", "list filter")
}

func TestDockerCLIImages(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)
	dir := t.TempDir()
	src := filepath.Join(dir, "busybox.tar")
	os.WriteFile(src, fixture(t, "busybox-docker-save.tar"), 0o644)

	if out := docker.ok("load", "-i", src); !strings.Contains(out, "Loaded image: busybox:latest") {
		t.Errorf("docker load: %s", out)
	}
	docker.ok("tag", "busybox", "copy:1")
	out := docker.ok("images")
	if !strings.Contains(out, "busybox") || !strings.Contains(out, "copy") || !strings.Contains(out, "7dcaac286bf2") {
		t.Errorf("docker images:\n%s", out)
	}
	if id := strings.TrimSpace(docker.ok("image", "inspect", "-f", "{{.Id}}", "copy:1")); id != busyboxID {
		t.Errorf("docker inspect: %s", id)
	}
	saved := filepath.Join(dir, "saved.tar")
	docker.ok("save", "-o", saved, "copy:1")
	if out := docker.ok("rmi", "copy:1"); !strings.Contains(out, "Untagged: copy:1") {
		t.Errorf("docker rmi: %s", out)
	}
	docker.ok("load", "-i", saved)
	if id := strings.TrimSpace(docker.ok("image", "inspect", "-f", "{{.Id}}", "copy:1")); id != busyboxID {
		t.Errorf("after save/load: %s", id)
	}
	if r := docker.run("image", "inspect", "nope"); r.exitCode == 0 || !strings.Contains(r.stderr, "No such image") {
		t.Errorf("inspect of a missing image: %s", r)
	}
	if out := docker.ok("history", "busybox"); !strings.Contains(out, "Imported from -") {
		t.Errorf("docker history:\n%s", out)
	}

	rootfs := filepath.Join(dir, "rootfs.tar")
	os.WriteFile(rootfs, busyboxRootfs(t), 0o644)
	id := strings.TrimSpace(docker.ok("import", "-c", `CMD ["sh"]`, rootfs, "imported:latest"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("docker import printed %q", id)
	}
	if out := docker.ok("image", "inspect", "-f", "{{json .Config.Cmd}}", "imported"); strings.TrimSpace(out) != `["sh"]` {
		t.Errorf("imported Cmd: %s", out)
	}
	if out := docker.ok("system", "df"); !strings.Contains(out, "Images") {
		t.Errorf("docker system df:\n%s", out)
	}
	_ = exec.ErrNotFound
}
