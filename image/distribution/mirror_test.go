package distribution

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"
)

// hubTransport sends Docker Hub's requests to a test registry instead (so
// that a test can see whether a pull got there) and records the scheme and
// host of every request.
type hubTransport struct {
	hub *testRegistry

	mu   sync.Mutex
	seen []string // "scheme://host"
}

func (h *hubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.seen = append(h.seen, req.URL.Scheme+"://"+req.URL.Host)
	h.mu.Unlock()
	if req.URL.Host != "index.docker.io" {
		return http.DefaultTransport.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", h.hub.host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if resp != nil {
		resp.Request = req // as if Hub had answered over HTTPS
	}
	return resp, err
}

func (h *hubTransport) saw(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.seen, s)
}

func mirrorURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPullMirrors(t *testing.T) {
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "mirrored")}, "gzip")
	mirror := newTestRegistry(t)
	mirror.upload("library/busybox", "1", img)
	empty := newTestRegistry(t)
	hub := newTestRegistry(t)
	hub.upload("library/busybox", "1", img)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	var logged bytes.Buffer
	logger := logrus.New()
	logger.SetOutput(&logged)
	ht := &hubTransport{hub: hub}
	o := PullOptions{Options: Options{
		TempDir:   t.TempDir(),
		Transport: ht,
		Log:       logger,
		// Neither dead's nor the empty mirror's failure stops the pull.
		Mirrors: []*url.URL{mirrorURL(t, "http://"+dead+"/"), mirrorURL(t, "http://"+empty.host), mirrorURL(t, "http://"+mirror.host+"/")},
	}}
	ref, _ := reference.ParseNormalizedNamed("busybox:1")
	s := newFakeStore()
	if _, err := Pull(context.Background(), s, ref, o); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, ref)
	if mirror.gets(img.blobDigest(0)) != 1 || hub.gets(img.blobDigest(0)) != 0 || ht.saw("https://index.docker.io") {
		t.Errorf("the layer came from the mirror %d times, from Hub %d times (Hub asked: %v)", mirror.gets(img.blobDigest(0)), hub.gets(img.blobDigest(0)), ht.saw("https://index.docker.io"))
	}
	// An http:// mirror gets plain HTTP only.
	if ht.saw("https://" + mirror.host) {
		t.Errorf("an http:// mirror was asked over HTTPS: %v", ht.seen)
	}
	for _, want := range []string{"skipping mirror http://" + dead, "skipping mirror http://" + empty.host} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logged.String())
		}
	}

	// No mirror has it: Hub is the last resort.
	o.Mirrors = o.Mirrors[:2]
	s = newFakeStore()
	if _, err := Pull(context.Background(), s, ref, o); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, s, img, ref)
	if hub.gets(img.blobDigest(0)) != 1 {
		t.Errorf("Hub served the layer %d times", hub.gets(img.blobDigest(0)))
	}

	// A failure once layers are coming does not move on: the image is
	// there, and broken.
	mirror.mu.Lock()
	mirror.corrupt[img.blobDigest(0)] = true
	mirror.mu.Unlock()
	hub.resetCounts()
	o.Mirrors = []*url.URL{mirrorURL(t, "http://"+mirror.host)}
	s = newFakeStore()
	if _, err := Pull(context.Background(), s, ref, o); err == nil || !strings.Contains(err.Error(), "verification failed") {
		t.Fatalf("corrupt layer on the mirror: %v", err)
	}
	if hub.gets(img.blobDigest(0)) != 0 {
		t.Error("a failed layer download fell back to Hub")
	}

	// Other registries' images never go to mirrors.
	other := newTestRegistry(t)
	other.upload("library/busybox", "1", img)
	o.Insecure = func(h string) bool { return strings.HasPrefix(h, "127.") }
	mirror.resetCounts()
	if _, err := Pull(context.Background(), newFakeStore(), other.ref("library/busybox:1"), o); err != nil {
		t.Fatal(err)
	}
	mirror.mu.Lock()
	defer mirror.mu.Unlock()
	if len(mirror.requests) != 0 {
		t.Errorf("a pull from %s asked the mirror: %v", other.host, mirror.requests)
	}
}

func TestPullAllTagsMirrors(t *testing.T) {
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "tags")}, "gzip")
	mirror := newTestRegistry(t)
	mirror.upload("library/alpine", "a", img)
	mirror.upload("library/alpine", "b", img)
	empty := newTestRegistry(t)
	o := PullOptions{Options: Options{
		TempDir:   t.TempDir(),
		Transport: &hubTransport{hub: empty},
		Mirrors:   []*url.URL{mirrorURL(t, "http://"+empty.host), mirrorURL(t, "http://"+mirror.host)},
	}}
	repo, _ := reference.ParseNormalizedNamed("alpine")
	results, err := PullAllTags(context.Background(), newFakeStore(), repo, o)
	if err != nil || len(results) != 2 {
		t.Fatalf("pull -a through mirrors: %d results, %v", len(results), err)
	}
}
