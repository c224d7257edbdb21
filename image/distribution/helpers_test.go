package distribution

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// testRegistry is go-containerregistry's in-memory registry on 127.0.0.1,
// behind a wrapper that counts and can slow, corrupt or guard requests.
type testRegistry struct {
	t      *testing.T
	srv    *httptest.Server
	host   string
	client *http.Client

	mu          sync.Mutex
	blobGets    map[digest.Digest]int
	requests    []string // "METHOD path"
	inflight    int
	maxInflight int
	blobDelay   time.Duration
	corrupt     map[digest.Digest]bool
	truncate    map[digest.Digest]bool // serve half, then drop the connection
	// auth, if set, checks every /v2/ request; challenge is the
	// WWW-Authenticate of its 401s.
	auth      func(*http.Request) bool
	challenge string
	// extra handles paths outside /v2/ (a token server).
	extra http.Handler
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	return startTestRegistry(t, nil, http.DefaultClient)
}

// startTestRegistry starts a test registry, over TLS with serverTLS when it
// is set; client sends the test's own requests (uploads).
func startTestRegistry(t *testing.T, serverTLS *tls.Config, client *http.Client) *testRegistry {
	t.Helper()
	r := &testRegistry{t: t, client: client, blobGets: map[digest.Digest]int{}, corrupt: map[digest.Digest]bool{}, truncate: map[digest.Digest]bool{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serve(inner, w, req)
	}))
	// Failed handshakes are what some tests are about.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if serverTLS != nil {
		r.srv.TLS = serverTLS
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	t.Cleanup(r.srv.Close)
	u, _ := url.Parse(r.srv.URL)
	r.host = u.Host
	return r
}

func (r *testRegistry) serve(inner http.Handler, w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.Path)
	auth, challenge, extra := r.auth, r.challenge, r.extra
	r.mu.Unlock()
	if !strings.HasPrefix(req.URL.Path, "/v2/") {
		if extra != nil {
			extra.ServeHTTP(w, req)
			return
		}
		http.NotFound(w, req)
		return
	}
	if auth != nil && !auth(req) {
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	parts := strings.Split(req.URL.Path, "/")
	if req.Method == http.MethodGet && len(parts) > 3 && parts[len(parts)-2] == "blobs" {
		d := digest.Digest(parts[len(parts)-1])
		r.mu.Lock()
		r.blobGets[d]++
		r.inflight++
		r.maxInflight = max(r.maxInflight, r.inflight)
		delay, corrupt, truncate := r.blobDelay, r.corrupt[d], r.truncate[d]
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.inflight--
			r.mu.Unlock()
		}()
		time.Sleep(delay)
		if corrupt || truncate {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			if corrupt && len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			if truncate {
				// Content-Length promises all of it: the client sees
				// the connection close early.
				body = body[:len(body)/2]
			}
			w.Write(body)
			return
		}
	}
	inner.ServeHTTP(w, req)
}

// requireBasic makes the registry demand HTTP basic auth as user:pass.
func (r *testRegistry) requireBasic(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.challenge = `Basic realm="test"`
	r.auth = func(req *http.Request) bool {
		u, p, ok := req.BasicAuth()
		return ok && u == user && p == pass
	}
}

func (r *testRegistry) gets(d digest.Digest) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobGets[d]
}

func (r *testRegistry) resetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobGets = map[digest.Digest]int{}
	r.requests = nil
	r.maxInflight = 0
}

// ref parses a reference in this registry: "test/img:1".
func (r *testRegistry) ref(s string) reference.Named {
	r.t.Helper()
	n, err := reference.ParseNormalizedNamed(r.host + "/" + s)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// do sends one raw request to the registry.
func (r *testRegistry) do(method, path, contentType string, body []byte) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (r *testRegistry) putBlob(repo string, b []byte) digest.Digest {
	r.t.Helper()
	d := digest.FromBytes(b)
	resp := r.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", b)
	if resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("uploading blob: %s", resp.Status)
	}
	return d
}

func (r *testRegistry) putManifest(repo, ref, mediaType string, body []byte) digest.Digest {
	r.t.Helper()
	resp := r.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, mediaType, body)
	if resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("putting manifest %s:%s: %s", repo, ref, resp.Status)
	}
	return digest.FromBytes(body)
}

// testImage is an image built for a test: its layers (tars), their blobs
// (compressed), config and manifest.
type testImage struct {
	tars      [][]byte
	blobs     [][]byte
	diffIDs   []digest.Digest
	config    []byte
	manifest  []byte
	mediaType string
	platform  ocispec.Platform
}

func (img *testImage) id() digest.Digest { return digest.FromBytes(img.config) }

func (img *testImage) blobDigest(i int) digest.Digest { return digest.FromBytes(img.blobs[i]) }

// makeTar makes a tar of the files (name → content), in name order.
func makeTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerTar(t *testing.T, name string) []byte {
	return makeTar(t, map[string]string{name + ".txt": strings.Repeat(name+"\n", 2000)})
}

func compress(t *testing.T, kind string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "gzip":
		gz := gzip.NewWriter(&buf)
		gz.Write(b)
		gz.Close()
	case "gzip-halves":
		// Two gzip members, one per half: a valid gzip stream, whose
		// second member starts in its middle when the halves are alike.
		return append(compress(t, "gzip", b[:len(b)/2]), compress(t, "gzip", b[len(b)/2:])...)
	case "zstd":
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	default:
		return b
	}
	return buf.Bytes()
}

// buildImage makes an image of the layer tars; compression is per layer
// ("gzip", "gzip-halves", "zstd", "none"; the last one given repeats).
func buildImage(t *testing.T, oci bool, platform ocispec.Platform, tars [][]byte, compression ...string) *testImage {
	t.Helper()
	img := &testImage{tars: tars, platform: platform}
	var layers []ocispec.Descriptor
	for i, tb := range tars {
		kind := compression[min(i, len(compression)-1)]
		blob := compress(t, kind, tb)
		img.blobs = append(img.blobs, blob)
		img.diffIDs = append(img.diffIDs, digest.FromBytes(tb))
		mt := map[string]string{"gzip": mediaTypeDockerLayerGzip, "gzip-halves": mediaTypeDockerLayerGzip, "none": mediaTypeDockerLayer}[kind]
		if oci {
			mt = map[string]string{"gzip": ocispec.MediaTypeImageLayerGzip, "zstd": ocispec.MediaTypeImageLayerZstd, "none": ocispec.MediaTypeImageLayer}[kind]
		}
		layers = append(layers, ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(blob), Size: int64(len(blob))})
	}
	cfg := map[string]any{
		"architecture": platform.Architecture,
		"os":           platform.OS,
		"config":       map[string]any{"Cmd": []string{"sh"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": img.diffIDs},
	}
	if platform.Variant != "" {
		cfg["variant"] = platform.Variant
	}
	img.config, _ = json.Marshal(cfg)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, Layers: layers}
	if oci {
		m.MediaType = ocispec.MediaTypeImageManifest
		m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}
	} else {
		m.MediaType = mediaTypeDockerManifest
		m.Config = ocispec.Descriptor{MediaType: mediaTypeDockerConfig}
	}
	m.Config.Digest, m.Config.Size = digest.FromBytes(img.config), int64(len(img.config))
	img.manifest, _ = json.Marshal(m)
	img.mediaType = m.MediaType
	return img
}

var linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// thisPlatform is the daemon's, so that plain images pass its checks.
func thisPlatform() ocispec.Platform { return platform.Default() }

// upload puts an image's blobs and manifest under ref (tag or digest) and
// returns the manifest digest.
func (r *testRegistry) upload(repo, ref string, img *testImage) digest.Digest {
	r.t.Helper()
	for _, b := range img.blobs {
		r.putBlob(repo, b)
	}
	r.putBlob(repo, img.config)
	return r.putManifest(repo, ref, img.mediaType, img.manifest)
}

// uploadIndex puts the images and an index of them under tag.
func (r *testRegistry) uploadIndex(repo, tag string, docker bool, imgs ...*testImage) digest.Digest {
	r.t.Helper()
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if docker {
		idx.MediaType = mediaTypeDockerManifestList
	}
	for _, img := range imgs {
		d := r.upload(repo, digest.FromBytes(img.manifest).String(), img)
		p := img.platform
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: img.mediaType, Digest: d, Size: int64(len(img.manifest)), Platform: &p})
	}
	body, _ := json.Marshal(idx)
	return r.putManifest(repo, tag, idx.MediaType, body)
}

// progressLog records progress reports.
type progressLog struct {
	mu  sync.Mutex
	all []Progress
}

func (l *progressLog) add(p Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, p)
}

// lines renders the reports as "id: action" lines, byte counts left out.
func (l *progressLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.all {
		if p.Aux != nil {
			out = append(out, fmt.Sprintf("aux: %+v", p.Aux))
			continue
		}
		if p.ID != "" {
			out = append(out, p.ID+": "+p.Action)
		} else {
			out = append(out, p.Action)
		}
	}
	return out
}

func (l *progressLog) has(line string) bool {
	for _, s := range l.lines() {
		if s == line {
			return true
		}
	}
	return false
}

func (l *progressLog) String() string { return strings.Join(l.lines(), "\n") }

// opts are Options for the test registry: loopback is insecure, as the
// daemon has it.
func (r *testRegistry) opts(t *testing.T, log *progressLog) PullOptions {
	o := PullOptions{Options: Options{
		Insecure: func(host string) bool { return strings.HasPrefix(host, "127.") },
		TempDir:  t.TempDir(),
	}}
	if log != nil {
		o.Progress = log.add
	}
	return o
}
