package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// checkPulled checks the store has img, complete, under ref.
func checkPulled(t *testing.T, s *fakeStore, img *testImage, ref reference.Named) {
	t.Helper()
	if _, err := s.ImageConfig(img.id()); err != nil {
		t.Fatalf("image %s not created: %v", img.id(), err)
	}
	var parent digest.Digest
	for i, d := range img.diffIDs {
		parent = ChainID(parent, d)
		s.mu.Lock()
		l, ok := s.layers[parent]
		s.mu.Unlock()
		if !ok {
			t.Fatalf("layer %d (%s) not registered", i, d)
		}
		if string(l.data) != string(img.tars[i]) {
			t.Fatalf("layer %d has the wrong content", i)
		}
	}
	if id, err := s.LookupReference(ref); err != nil || id != img.id() {
		t.Fatalf("%s points to %s (%v), want %s", ref, id, err, img.id())
	}
	if _, _, held := s.snapshot(); held != 0 {
		t.Fatalf("%d layer references left held", held)
	}
}

func TestPullSchema2(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "base"), layerTar(t, "top")}, "gzip")
	mdigest := r.upload("test/img", "1", img)

	s := newFakeStore()
	log := &progressLog{}
	ref := r.ref("test/img:1")
	res, err := Pull(context.Background(), s, ref, r.opts(t, log))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != img.id() || res.Digest != mdigest || !res.Updated {
		t.Fatalf("result %+v, want ID %s digest %s updated", res, img.id(), mdigest)
	}
	checkPulled(t, s, img, ref)
	dref, _ := reference.WithDigest(reference.TrimNamed(ref), mdigest)
	if id, err := s.LookupReference(dref); err != nil || id != img.id() {
		t.Fatalf("RepoDigest %s: %s %v", dref, id, err)
	}
	l0, l1 := shortID(img.blobDigest(0)), shortID(img.blobDigest(1))
	for _, want := range []string{
		"1: Pulling from test/img",
		l0 + ": Pulling fs layer", l1 + ": Pulling fs layer",
		l0 + ": Downloading", l0 + ": Verifying Checksum", l0 + ": Download complete",
		l0 + ": Extracting", l0 + ": Pull complete", l1 + ": Pull complete",
		"Digest: " + mdigest.String(),
		"Status: Downloaded newer image for " + r.host + "/test/img:1",
	} {
		if !log.has(want) {
			t.Errorf("progress lacks %q:\n%s", want, log)
		}
	}
	// Order: the header first, the status last, each layer's steps in order.
	lines := log.lines()
	if lines[0] != "1: Pulling from test/img" || lines[len(lines)-1] != "Status: Downloaded newer image for "+r.host+"/test/img:1" {
		t.Errorf("progress order:\n%s", log)
	}
	if slices.Index(lines, l0+": Pull complete") > slices.Index(lines, l1+": Pull complete") {
		t.Errorf("layers completed out of order:\n%s", log)
	}
	// Byte counts reach the totals.
	var lastDown, lastExtract Progress
	for _, p := range log.all {
		if p.ID == l1 && p.Action == ActionDownloading {
			lastDown = p
		}
		if p.ID == l1 && p.Action == ActionExtracting {
			lastExtract = p
		}
	}
	if lastDown.Total != int64(len(img.blobs[1])) || lastDown.Current != lastDown.Total || lastExtract.Current != lastExtract.Total {
		t.Errorf("progress counts: downloading %+v, extracting %+v", lastDown, lastExtract)
	}

	// Again: up to date, and nothing downloaded.
	r.resetCounts()
	log2 := &progressLog{}
	res, err = Pull(context.Background(), s, ref, r.opts(t, log2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated || !log2.has("Status: Image is up to date for "+r.host+"/test/img:1") {
		t.Fatalf("second pull: %+v\n%s", res, log2)
	}
	for _, d := range []digest.Digest{img.blobDigest(0), img.blobDigest(1)} {
		if n := r.gets(d); n != 0 {
			t.Errorf("second pull fetched layer %s %d times", d, n)
		}
	}
}

func TestPullOCIZstdAndUncompressed(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, true, thisPlatform(), [][]byte{layerTar(t, "a"), layerTar(t, "b"), layerTar(t, "c")}, "zstd", "none", "gzip")
	r.upload("test/oci", "v1", img)
	s := newFakeStore()
	ref := r.ref("test/oci:v1")
	if _, err := Pull(context.Background(), s, ref, r.opts(t, nil)); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, ref)
}

func TestPullIndexPlatforms(t *testing.T) {
	for _, docker := range []bool{false, true} {
		t.Run(fmt.Sprintf("docker=%v", docker), func(t *testing.T) {
			r := newTestRegistry(t)
			platforms := []ocispec.Platform{
				{OS: "linux", Architecture: "amd64"},
				{OS: "linux", Architecture: "arm64", Variant: "v8"},
				{OS: "linux", Architecture: "arm", Variant: "v7"},
			}
			var imgs []*testImage
			for _, p := range platforms {
				imgs = append(imgs, buildImage(t, !docker, p, [][]byte{layerTar(t, "base-"+p.Architecture)}, "gzip"))
			}
			idx := r.uploadIndex("test/multi", "latest", docker, imgs...)

			pick := func(platform *ocispec.Platform) (*PullResult, *fakeStore, error) {
				s := newFakeStore()
				o := r.opts(t, nil)
				o.Platform = platform
				res, err := Pull(context.Background(), s, r.ref("test/multi"), o)
				return res, s, err
			}
			// The daemon's own platform by default.
			res, s, err := pick(nil)
			if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
				if err != nil {
					t.Fatal(err)
				}
				want := imgs[0]
				if runtime.GOARCH == "arm64" {
					want = imgs[1]
				}
				if res.ID != want.id() || res.Digest != idx {
					t.Fatalf("default platform: got %s digest %s, want %s digest %s", res.ID, res.Digest, want.id(), idx)
				}
				checkPulled(t, s, want, r.ref("test/multi:latest"))
			}
			for i, p := range platforms {
				p := p
				res, _, err := pick(&p)
				if err != nil {
					t.Fatalf("%s: %v", platform.String(p), err)
				}
				if res.ID != imgs[i].id() {
					t.Errorf("%s: got image %s, want %s", platform.String(p), res.ID, imgs[i].id())
				}
			}
			// arm64 without a variant is v8.
			p, _ := platform.Parse("linux/arm64")
			if res, _, err := pick(&p); err != nil || res.ID != imgs[1].id() {
				t.Errorf("linux/arm64 without variant: %v %v", res, err)
			}
			p, _ = platform.Parse("linux/s390x")
			if _, _, err := pick(&p); err == nil || !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no matching manifest for linux/s390x in the manifest list entries") {
				t.Errorf("missing platform: %v", err)
			}
		})
	}
}

func TestPullPlatformMismatchOfSingleManifest(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, ocispec.Platform{OS: "linux", Architecture: "riscv64"}, [][]byte{layerTar(t, "x")}, "gzip")
	r.upload("test/one", "1", img)
	p, _ := platform.Parse("linux/ppc64le")
	o := r.opts(t, nil)
	o.Platform = &p
	_, err := Pull(context.Background(), newFakeStore(), r.ref("test/one:1"), o)
	if err == nil || !strings.Contains(err.Error(), "does not match the specified platform: wanted linux/ppc64le, actual: linux/riscv64") {
		t.Fatalf("err = %v", err)
	}
	// Without a platform asked for, any Linux image is taken, as Docker does.
	if _, err := Pull(context.Background(), newFakeStore(), r.ref("test/one:1"), r.opts(t, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestPullByDigest(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "d")}, "gzip")
	mdigest := r.upload("test/dg", "1", img)
	s := newFakeStore()
	ref := r.ref("test/dg@" + mdigest.String())
	log := &progressLog{}
	res, err := Pull(context.Background(), s, ref, r.opts(t, log))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != img.id() || !res.Updated {
		t.Fatalf("%+v", res)
	}
	if id, err := s.LookupReference(ref); err != nil || id != img.id() {
		t.Fatalf("digest ref: %s %v", id, err)
	}
	if _, err := s.LookupReference(r.ref("test/dg:1")); err == nil {
		t.Fatal("a pull by digest tagged the image")
	}
	if !log.has(mdigest.String()+": Pulling from test/dg") || !log.has("Status: Downloaded newer image for "+ref.String()) {
		t.Fatalf("progress:\n%s", log)
	}
	// A digest the registry does not have.
	other := digest.FromString("something else")
	_, err = Pull(context.Background(), newFakeStore(), r.ref("test/dg@"+other.String()), r.opts(t, nil))
	if err == nil || !errdefs.IsNotFound(err) {
		t.Fatalf("unknown digest: %v", err)
	}
}

func TestPullManifestDigestMismatch(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "m")}, "gzip")
	r.upload("test/mm", "1", img)
	other := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "n")}, "gzip")
	otherDigest := r.upload("test/mm", "2", other)
	// A lying registry: asked for other's digest, it answers img's manifest.
	lying := &lyingTransport{from: otherDigest.String(), to: "1"}
	o := r.opts(t, nil)
	o.Transport = lying
	s := newFakeStore()
	_, err := Pull(context.Background(), s, r.ref("test/mm@"+otherDigest.String()), o)
	if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "manifest verification failed for digest "+otherDigest.String()) {
		t.Fatalf("err = %v", err)
	}
	if layers, images, held := s.snapshot(); layers+images+held != 0 {
		t.Fatalf("left %d layers, %d images, %d references", layers, images, held)
	}
}

// lyingTransport rewrites manifest requests for one reference to another.
type lyingTransport struct{ from, to string }

func (l *lyingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/manifests/"+l.from) {
		req = req.Clone(req.Context())
		req.URL.Path = strings.TrimSuffix(req.URL.Path, l.from) + l.to
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestPullCorruptBlobLeavesNothing(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "ok1"), layerTar(t, "bad"), layerTar(t, "ok3")}, "gzip")
	r.upload("test/corrupt", "1", img)
	r.corrupt[img.blobDigest(1)] = true
	s := newFakeStore()
	tmp := t.TempDir()
	o := r.opts(t, nil)
	o.TempDir = tmp
	_, err := Pull(context.Background(), s, r.ref("test/corrupt:1"), o)
	if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "filesystem layer verification failed for digest "+img.blobDigest(1).String()) {
		t.Fatalf("err = %v", err)
	}
	if layers, images, held := s.snapshot(); layers+images+held != 0 {
		t.Fatalf("left %d layers, %d images, %d references", layers, images, held)
	}
	if _, err := s.LookupReference(r.ref("test/corrupt:1")); err == nil {
		t.Fatal("the failed pull tagged")
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("temp files left: %v", entries)
	}
}

func TestPullDiffIDMismatchLeavesNothing(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "p"), layerTar(t, "q")}, "gzip")
	// A config that lies about the second layer.
	var cfg map[string]any
	json.Unmarshal(img.config, &cfg)
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": []digest.Digest{img.diffIDs[0], digest.FromString("not it")}}
	img.config, _ = json.Marshal(cfg)
	var m ocispec.Manifest
	json.Unmarshal(img.manifest, &m)
	m.Config.Digest, m.Config.Size = digest.FromBytes(img.config), int64(len(img.config))
	img.manifest, _ = json.Marshal(m)
	r.upload("test/diffid", "1", img)
	s := newFakeStore()
	_, err := Pull(context.Background(), s, r.ref("test/diffid:1"), r.opts(t, nil))
	if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "the image config says") {
		t.Fatalf("err = %v", err)
	}
	if layers, images, held := s.snapshot(); layers+images+held != 0 {
		t.Fatalf("left %d layers, %d images, %d references", layers, images, held)
	}
}

func TestPullSkipsPresentLayers(t *testing.T) {
	r := newTestRegistry(t)
	base, mid := layerTar(t, "shared-base"), layerTar(t, "shared-mid")
	a := buildImage(t, false, thisPlatform(), [][]byte{base, mid, layerTar(t, "a-top")}, "gzip")
	b := buildImage(t, false, thisPlatform(), [][]byte{base, mid, layerTar(t, "b-top")}, "gzip")
	r.upload("test/a", "1", a)
	r.upload("test/b", "1", b)
	s := newFakeStore()
	if _, err := Pull(context.Background(), s, r.ref("test/a:1"), r.opts(t, nil)); err != nil {
		t.Fatal(err)
	}
	r.resetCounts()
	log := &progressLog{}
	if _, err := Pull(context.Background(), s, r.ref("test/b:1"), r.opts(t, log)); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, b, r.ref("test/b:1"))
	for i := range 2 {
		if n := r.gets(b.blobDigest(i)); n != 0 {
			t.Errorf("layer %d fetched %d times though present", i, n)
		}
		if !log.has(shortID(b.blobDigest(i)) + ": Already exists") {
			t.Errorf("layer %d not reported as present:\n%s", i, log)
		}
	}
	if n := r.gets(b.blobDigest(2)); n != 1 {
		t.Errorf("top layer fetched %d times", n)
	}
}

func TestPullConcurrentDownloadsRegisterInOrder(t *testing.T) {
	r := newTestRegistry(t)
	var tars [][]byte
	for i := range 7 {
		tars = append(tars, layerTar(t, fmt.Sprintf("layer%d", i)))
	}
	img := buildImage(t, false, thisPlatform(), tars, "gzip")
	r.upload("test/many", "1", img)
	r.blobDelay = 150 * time.Millisecond
	s := newFakeStore()
	log := &progressLog{}
	start := time.Now()
	if _, err := Pull(context.Background(), s, r.ref("test/many:1"), r.opts(t, log)); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	checkPulled(t, s, img, r.ref("test/many:1"))
	r.mu.Lock()
	maxIn := r.maxInflight
	r.mu.Unlock()
	if maxIn != 3 {
		t.Errorf("at most %d blob downloads at once, want 3", maxIn)
	}
	// 7 layers + config, 3 at a time: well under 8 sequential delays.
	if elapsed > 7*r.blobDelay {
		t.Errorf("pull took %s: downloads did not overlap", elapsed)
	}
	// Registered bottom to top.
	var parent digest.Digest
	var want []digest.Digest
	for _, d := range img.diffIDs {
		parent = ChainID(parent, d)
		want = append(want, parent)
	}
	if !slices.Equal(s.order, want) {
		t.Errorf("registration order %v, want %v", s.order, want)
	}
	// Layers past the third waited.
	for i := 3; i < 7; i++ {
		if !log.has(shortID(img.blobDigest(i)) + ": Waiting") {
			t.Errorf("layer %d did not wait:\n%s", i, log)
		}
	}
}

func TestPullErrors(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "e")}, "gzip")
	r.upload("test/e", "1", img)
	s := newFakeStore()
	_, err := Pull(context.Background(), s, r.ref("test/e:nope"), r.opts(t, nil))
	want := "manifest for " + r.host + "/test/e:nope not found: manifest unknown: "
	if err == nil || !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("missing tag: %v, want %q...", err, want)
	}
	_, err = Pull(context.Background(), s, r.ref("test/nothere"), r.opts(t, nil))
	if err == nil || !errdefs.IsNotFound(err) {
		t.Fatalf("missing repository: %v", err)
	}
	// Nobody listens there (a port of a closed server).
	closed := newTestRegistry(t)
	closed.srv.Close()
	_, err = Pull(context.Background(), s, closed.ref("test/e:1"), closed.opts(t, nil))
	if err == nil || !errdefs.IsUnavailable(err) {
		t.Fatalf("registry down: %v", err)
	}
	// Not insecure: no plain HTTP, not even on loopback.
	o := r.opts(t, nil)
	o.Insecure = nil
	_, err = Pull(context.Background(), s, r.ref("test/e:1"), o)
	if err == nil || !strings.Contains(err.Error(), "refusing plain HTTP to registry "+r.host) {
		t.Fatalf("secure registry over HTTP: %v", err)
	}
	if layers, images, _ := s.snapshot(); layers+images != 0 {
		t.Fatal("failed pulls left something")
	}
}

func TestPullBasicAuth(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "auth")}, "gzip")
	r.upload("test/private", "1", img)
	r.requireBasic("alice", "s3cret")
	s := newFakeStore()
	_, err := Pull(context.Background(), s, r.ref("test/private:1"), r.opts(t, nil))
	if err == nil || !errdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "unauthorized: authentication required") {
		t.Fatalf("anonymous: %v", err)
	}
	o := r.opts(t, nil)
	o.Credentials = Credentials{Username: "alice", Password: "wrong"}
	if _, err := Pull(context.Background(), s, r.ref("test/private:1"), o); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("wrong password: %v", err)
	}
	o.Credentials.Password = "s3cret"
	if _, err := Pull(context.Background(), s, r.ref("test/private:1"), o); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, r.ref("test/private:1"))
}

func TestPullTokenAuth(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "token")}, "gzip")
	r.upload("test/tok", "1", img)
	var scopes []string
	r.mu.Lock()
	r.challenge = fmt.Sprintf(`Bearer realm="%s/token",service="test-registry"`, r.srv.URL)
	r.auth = func(req *http.Request) bool { return req.Header.Get("Authorization") == "Bearer good-token" }
	r.extra = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/token" {
			http.NotFound(w, req)
			return
		}
		r.mu.Lock()
		scopes = append(scopes, req.URL.Query()["scope"]...)
		r.mu.Unlock()
		u, p, ok := req.BasicAuth()
		if req.Method == http.MethodPost {
			req.ParseForm()
			u, p, ok = req.Form.Get("username"), req.Form.Get("password"), true
		}
		if !ok || u != "bob" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"token": "good-token"})
	})
	r.mu.Unlock()
	s := newFakeStore()
	if _, err := Pull(context.Background(), s, r.ref("test/tok:1"), r.opts(t, nil)); err == nil {
		t.Fatal("anonymous pull passed")
	}
	o := r.opts(t, nil)
	o.Credentials = Credentials{Username: "bob", Password: "pw"}
	if _, err := Pull(context.Background(), s, r.ref("test/tok:1"), o); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, r.ref("test/tok:1"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(scopes, "repository:test/tok:pull") {
		t.Errorf("token scopes %v", scopes)
	}
	// A ready bearer token works too.
	r.mu.Unlock()
	o.Credentials = Credentials{RegistryToken: "good-token"}
	s2 := newFakeStore()
	if _, err := Pull(context.Background(), s2, r.ref("test/tok:1"), o); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
}

func TestPullAllTags(t *testing.T) {
	r := newTestRegistry(t)
	a := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "t1")}, "gzip")
	b := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "t2")}, "gzip")
	r.upload("test/tags", "one", a)
	r.upload("test/tags", "two", b)
	s := newFakeStore()
	log := &progressLog{}
	res, err := PullAllTags(context.Background(), s, r.ref("test/tags"), r.opts(t, log))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	checkPulled(t, s, a, r.ref("test/tags:one"))
	checkPulled(t, s, b, r.ref("test/tags:two"))
	if !log.has("Status: Downloaded newer image for " + r.host + "/test/tags") {
		t.Fatalf("progress:\n%s", log)
	}
}

func TestPullCancel(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "c1"), layerTar(t, "c2")}, "gzip")
	r.upload("test/cancel", "1", img)
	r.blobDelay = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s := newFakeStore()
	_, err := Pull(ctx, s, r.ref("test/cancel:1"), r.opts(t, nil))
	if err == nil {
		t.Fatal("pull outlived its context")
	}
	if layers, images, held := s.snapshot(); layers+images+held != 0 {
		t.Fatalf("left %d layers, %d images, %d references", layers, images, held)
	}
}

// bigLayerTar is a layer of mib MiB of incompressible files, larger than a
// streamed download's buffers, so that the download waits on its
// registration.
func bigLayerTar(t *testing.T, name string, mib int) []byte {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{byte(len(name)), byte(mib)})
	files := map[string]string{}
	for i := range mib {
		b := make([]byte, 1<<20)
		rng.Read(b)
		files[fmt.Sprintf("%s/%d.bin", name, i)] = string(b)
	}
	return makeTar(t, files)
}

// checkNothingLeft checks a failed pull left no layer, image, reference,
// temporary file, process or pipe.
func checkNothingLeft(t *testing.T, s *fakeStore, o PullOptions, leftovers func()) {
	t.Helper()
	if layers, images, held := s.snapshot(); layers+images+held != 0 {
		t.Errorf("left %d layers, %d images, %d references", layers, images, held)
	}
	if entries, _ := os.ReadDir(o.TempDir); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	leftovers()
}

// TestPullStreamsFirstLayer checks that the layer registered first is
// extracted from the download itself, with no temporary file, and the
// others from theirs; and that every pulled diff opts out of the layer
// store's early writeback.
func TestPullStreamsFirstLayer(t *testing.T) {
	for _, cmd := range gzipCommands(t) {
		t.Run(decoderName(cmd), func(t *testing.T) {
			r := newTestRegistry(t)
			img := buildImage(t, false, thisPlatform(), [][]byte{bigLayerTar(t, "s1", 4), layerTar(t, "s2"), layerTar(t, "s3")}, "gzip")
			r.upload("test/stream", "1", img)
			s := newFakeStore()
			o := r.opts(t, nil)
			o.GzipCommand = cmd
			// The size of the largest temporary file each registration saw.
			var spooled []int64
			optOuts := 0
			s.onRegister = func(diff io.Reader) error {
				if o, ok := diff.(interface{ EarlyWriteback() bool }); ok && !o.EarlyWriteback() {
					optOuts++
				}
				var largest int64 = -1
				filepath.WalkDir(o.TempDir, func(_ string, e fs.DirEntry, err error) error {
					if err == nil && e.Type().IsRegular() {
						if fi, err := e.Info(); err == nil {
							largest = max(largest, fi.Size())
						}
					}
					return nil
				})
				spooled = append(spooled, largest)
				return nil
			}
			if _, err := Pull(context.Background(), s, r.ref("test/stream:1"), o); err != nil {
				t.Fatal(err)
			}
			checkPulled(t, s, img, r.ref("test/stream:1"))
			// The first layer's 4 MiB blob never went to a file; the last
			// layer's small one did.
			if len(spooled) != 3 || spooled[0] >= 1<<20 || spooled[2] < 0 {
				t.Fatalf("largest temporary file seen by each registration: %v", spooled)
			}
			if optOuts != 3 {
				t.Fatalf("%d of 3 diffs opted out of early writeback", optOuts)
			}
			if entries, _ := os.ReadDir(o.TempDir); len(entries) != 0 {
				t.Fatalf("temporary files left: %v", entries)
			}
		})
	}
}

// TestPullStreamedLayerFailures breaks the streamed layer's download and
// registration, with each gzip decoder: each failure is reported, nothing
// is left, nothing hangs.
func TestPullStreamedLayerFailures(t *testing.T) {
	verification := func(err error) bool {
		return errdefs.IsInvalidArgument(err) && strings.Contains(err.Error(), "filesystem layer verification failed")
	}
	// Two alike halves, gzipped each: the corrupted byte is the second
	// member's first, which the decoder refuses (or, igzip, takes for
	// trailing garbage) with 6 MiB of the blob still to come, more than
	// the stream and the sockets hold.
	twice := bigLayerTar(t, "half", 6)
	twice = append(twice, twice...)
	small, big := bigLayerTar(t, "f1", 4), bigLayerTar(t, "f1", 12)
	for _, c := range []struct {
		name  string
		layer []byte
		kind  string
		setup func(r *testRegistry, s *fakeStore, img *testImage)
		check func(err error) bool
	}{
		{"corrupt blob, found at its end", small, "gzip", func(r *testRegistry, _ *fakeStore, img *testImage) { r.corrupt[img.blobDigest(0)] = true }, verification},
		{"corrupt blob, found by the decoder midway", twice, "gzip-halves", func(r *testRegistry, _ *fakeStore, img *testImage) { r.corrupt[img.blobDigest(0)] = true }, verification},
		{"connection cut", small, "gzip", func(r *testRegistry, _ *fakeStore, img *testImage) { r.truncate[img.blobDigest(0)] = true }, func(err error) bool {
			return errdefs.IsUnavailable(err) && strings.Contains(err.Error(), "connection closed")
		}},
		{"store fails at once", small, "gzip", func(_ *testRegistry, s *fakeStore, _ *testImage) { s.failNext = errors.New("no space left") }, func(err error) bool {
			return strings.Contains(err.Error(), "no space left")
		}},
		{"store fails midway", small, "gzip", func(_ *testRegistry, s *fakeStore, _ *testImage) {
			s.onRegister = func(diff io.Reader) error {
				io.CopyN(io.Discard, diff, 1<<20)
				return errors.New("disk broke")
			}
		}, func(err error) bool { return strings.Contains(err.Error(), "disk broke") }},
		// A refused diff waits for the download, which waits for the
		// rest of the blob to be read.
		{"store refuses the diff midway", big, "gzip", func(_ *testRegistry, s *fakeStore, _ *testImage) {
			s.onRegister = func(diff io.Reader) error {
				io.CopyN(io.Discard, diff, 1<<20)
				return errdefs.ErrInvalidArgument.WithMessage("not a tar")
			}
		}, func(err error) bool {
			return errdefs.IsInvalidArgument(err) && strings.Contains(err.Error(), "not a tar")
		}},
	} {
		for _, cmd := range gzipCommands(t) {
			t.Run(c.name+"/"+decoderName(cmd), func(t *testing.T) {
				r := newTestRegistry(t)
				img := buildImage(t, false, thisPlatform(), [][]byte{c.layer, layerTar(t, "f2")}, c.kind, "gzip")
				r.upload("test/fail", "1", img)
				s := newFakeStore()
				c.setup(r, s, img)
				o := r.opts(t, nil)
				o.GzipCommand = cmd
				leftovers := noLeftovers(t)
				_, err := Pull(context.Background(), s, r.ref("test/fail:1"), o)
				if err == nil || !c.check(err) {
					t.Fatalf("err = %v", err)
				}
				checkNothingLeft(t, s, o, leftovers)
			})
		}
	}
}

// TestPullCancelMidway cancels a pull while its layer is being applied, as
// a client going away does: the pull ends with the cancellation, and leaves
// no layer, no file, no decoder process.
func TestPullCancelMidway(t *testing.T) {
	for _, cmd := range gzipCommands(t) {
		t.Run(decoderName(cmd), func(t *testing.T) {
			r := newTestRegistry(t)
			img := buildImage(t, false, thisPlatform(), [][]byte{bigLayerTar(t, "c1", 8), bigLayerTar(t, "c2", 4)}, "gzip")
			r.upload("test/cancel", "1", img)
			s := newFakeStore()
			o := r.opts(t, nil)
			o.GzipCommand = cmd
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.onRegister = func(diff io.Reader) error {
				if _, err := io.CopyN(io.Discard, diff, 1<<20); err != nil {
					return err
				}
				cancel()
				_, err := io.Copy(io.Discard, diff)
				return err
			}
			leftovers := noLeftovers(t)
			if _, err := Pull(ctx, s, r.ref("test/cancel:1"), o); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			checkNothingLeft(t, s, o, leftovers)
		})
	}
}

// TestPullSameBlobTwice pulls an image whose first blob is also another
// layer's: a stream can be read once, so that blob goes to a file, which
// both registrations read.
func TestPullSameBlobTwice(t *testing.T) {
	r := newTestRegistry(t)
	same := bigLayerTar(t, "twice", 4)
	img := buildImage(t, false, thisPlatform(), [][]byte{same, layerTar(t, "between"), same}, "gzip")
	r.upload("test/twice", "1", img)
	s := newFakeStore()
	if _, err := Pull(context.Background(), s, r.ref("test/twice:1"), r.opts(t, nil)); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, r.ref("test/twice:1"))
	if n := r.gets(img.blobDigest(0)); n != 1 {
		t.Fatalf("the shared blob was fetched %d times", n)
	}
}
