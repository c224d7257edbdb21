package distribution

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// storeWith makes a store holding img, tagged with refs.
func storeWith(t *testing.T, img *testImage, refs ...reference.Named) *fakeStore {
	t.Helper()
	s := newFakeStore()
	var parent digest.Digest
	var releases []func()
	for _, tb := range img.tars {
		chain, _, release, err := s.RegisterLayer(bytes.NewReader(tb), parent)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
		parent = chain
	}
	if _, err := s.CreateImage(img.config); err != nil {
		t.Fatal(err)
	}
	for _, r := range releases {
		r()
	}
	for _, ref := range refs {
		if err := s.Tag(reference.TagNameOnly(ref).(reference.NamedTagged), img.id()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestPushPullRoundTrip(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "rt-base"), layerTar(t, "rt-top")}, "none")
	ref := r.ref("test/rt:1")
	src := storeWith(t, img, ref)
	blobs := NewBlobIndex(filepath.Join(t.TempDir(), "blobs"))

	log := &progressLog{}
	o := r.opts(t, log).Options
	o.Blobs = blobs
	res, err := Push(context.Background(), src, ref, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Tag != "1" || !strings.HasPrefix(res[0].Digest, "sha256:") || res[0].Size == 0 {
		t.Fatalf("push results %+v", res)
	}
	l0, l1 := shortID(img.diffIDs[0]), shortID(img.diffIDs[1])
	lines := log.lines()
	wantOrder := []string{
		"The push refers to repository [" + r.host + "/test/rt]",
		l1 + ": Preparing", l0 + ": Preparing",
	}
	if !slices.Equal(lines[:3], wantOrder) {
		t.Errorf("push began:\n%s\nwant\n%s", log, strings.Join(wantOrder, "\n"))
	}
	for _, want := range []string{
		l0 + ": Pushing", l0 + ": Pushed", l1 + ": Pushing", l1 + ": Pushed",
		"1: digest: " + res[0].Digest + " size: " + strconv.Itoa(res[0].Size),
	} {
		if !log.has(want) {
			t.Errorf("progress lacks %q:\n%s", want, log)
		}
	}
	if last := log.all[len(log.all)-1]; last.Aux != res[0] {
		t.Errorf("last message %+v, want the aux %+v", last, res[0])
	}
	var lastPushing Progress
	for _, p := range log.all {
		if p.ID == l1 && p.Action == ActionPushing {
			lastPushing = p
		}
	}
	if lastPushing.Total != int64(len(img.tars[1])) || lastPushing.Current != lastPushing.Total {
		t.Errorf("pushing progress %+v, want %d of %d", lastPushing, len(img.tars[1]), len(img.tars[1]))
	}
	dref, _ := reference.WithDigest(reference.TrimNamed(ref), digest.Digest(res[0].Digest))
	if id, err := src.LookupReference(dref); err != nil || id != img.id() {
		t.Fatalf("RepoDigest after push: %s %v", id, err)
	}

	// Pull it into another store: same image, same layers.
	dst := newFakeStore()
	pres, err := Pull(context.Background(), dst, ref, r.opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if pres.ID != img.id() || pres.Digest.String() != res[0].Digest {
		t.Fatalf("pulled %s digest %s, pushed %s digest %s", pres.ID, pres.Digest, img.id(), res[0].Digest)
	}
	checkPulled(t, dst, img, ref)

	// Pushed again: every layer is known to be there.
	r.resetCounts()
	log2 := &progressLog{}
	o.Progress = log2.add
	res2, err := Push(context.Background(), src, ref, o)
	if err != nil {
		t.Fatal(err)
	}
	if res2[0] != res[0] {
		t.Errorf("second push %+v, first %+v", res2[0], res[0])
	}
	for _, id := range []string{l0, l1} {
		if !log2.has(id + ": Layer already exists") {
			t.Errorf("second push did not skip %s:\n%s", id, log2)
		}
	}
	r.mu.Lock()
	for _, req := range r.requests {
		if strings.HasPrefix(req, "PATCH ") {
			t.Errorf("second push uploaded: %s", req)
		}
	}
	r.mu.Unlock()
}

func TestPushAllTagsAndMount(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "m-base")}, "gzip")
	src := storeWith(t, img, r.ref("test/src:a"), r.ref("test/src:b"))
	blobs := NewBlobIndex(filepath.Join(t.TempDir(), "blobs"))
	o := r.opts(t, nil).Options
	o.Blobs = blobs

	log := &progressLog{}
	o.Progress = log.add
	res, err := Push(context.Background(), src, r.ref("test/src"), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Tag != "a" || res[1].Tag != "b" || res[0].Digest != res[1].Digest {
		t.Fatalf("results %+v", res)
	}
	// The second tag's layer is the first's.
	if !log.has(shortID(img.diffIDs[0]) + ": Layer already exists") {
		t.Errorf("second tag re-pushed the layer:\n%s", log)
	}

	// Another repository of the registry: mounted.
	mounting := &mountingTransport{}
	o.Transport = mounting
	if err := src.Tag(r.ref("test/dst:1").(reference.NamedTagged), img.id()); err != nil {
		t.Fatal(err)
	}
	log2 := &progressLog{}
	o.Progress = log2.add
	if _, err := Push(context.Background(), src, r.ref("test/dst:1"), o); err != nil {
		t.Fatal(err)
	}
	if !log2.has(shortID(img.diffIDs[0]) + ": Mounted from test/src") {
		t.Errorf("not mounted:\n%s", log2)
	}
	if mounting.mounts != 1 {
		t.Errorf("%d mount requests", mounting.mounts)
	}
}

// mountingTransport answers a mount request with 201, as a registry does
// when it has the blob (go-containerregistry's test registry does not
// implement mounts).
type mountingTransport struct{ mounts int }

func (m *mountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.URL.Query().Get("mount") != "" {
		m.mounts++
		return &http.Response{StatusCode: http.StatusCreated, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestPushErrors(t *testing.T) {
	r := newTestRegistry(t)
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "pe")}, "gzip")
	src := storeWith(t, img, r.ref("test/pe:1"))
	o := r.opts(t, nil).Options

	_, err := Push(context.Background(), src, r.ref("test/none:1"), o)
	if err == nil || !errdefs.IsNotFound(err) || err.Error() != "An image does not exist locally with the tag: "+r.host+"/test/none" {
		t.Errorf("unknown repository: %v", err)
	}
	_, err = Push(context.Background(), src, r.ref("test/pe:2"), o)
	if err == nil || !errdefs.IsNotFound(err) || err.Error() != "tag does not exist: "+r.host+"/test/pe:2" {
		t.Errorf("unknown tag: %v", err)
	}
	dref, _ := reference.WithDigest(reference.TrimNamed(r.ref("test/pe")), img.id())
	if _, err := Push(context.Background(), src, dref, o); err == nil || !errdefs.IsInvalidArgument(err) {
		t.Errorf("digest reference: %v", err)
	}

	r.requireBasic("alice", "pw")
	_, err = Push(context.Background(), src, r.ref("test/pe:1"), o)
	if err == nil || !strings.Contains(err.Error(), "unauthorized: authentication required") {
		t.Errorf("anonymous push: %v", err)
	}
	o.Credentials = Credentials{Username: "alice", Password: "pw"}
	if _, err := Push(context.Background(), src, r.ref("test/pe:1"), o); err != nil {
		t.Errorf("push with credentials: %v", err)
	}
}

func TestBlobIndex(t *testing.T) {
	x := NewBlobIndex(filepath.Join(t.TempDir(), "x"))
	d := digest.FromString("diff")
	if got := x.Get(d); len(got) != 0 {
		t.Fatalf("empty index: %v", got)
	}
	a := BlobInfo{Digest: digest.FromString("a"), MediaType: mediaTypeDockerLayerGzip, Size: 1, Registry: "r", Repository: "one"}
	b := BlobInfo{Digest: digest.FromString("b"), MediaType: mediaTypeDockerLayerGzip, Size: 2, Registry: "r", Repository: "two"}
	if err := x.Add(d, a); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(d, b); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(d, a); err != nil { // most recent first, no duplicate
		t.Fatal(err)
	}
	if got := x.Get(d); !slices.Equal(got, []BlobInfo{a, b}) {
		t.Fatalf("got %v", got)
	}
	var nilIndex *BlobIndex
	if nilIndex.Get(d) != nil || nilIndex.Add(d, a) != nil {
		t.Fatal("a nil index is not empty")
	}
}
