package tarexport

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// fakeStore is an in-memory Store that does the real arithmetic: diff IDs are the sha256 of the
// tar streams (which must be valid tars), chain IDs chain, image IDs are sha256(config), and
// layers are reference counted and garbage-collected when nothing holds them.
type fakeStore struct {
	mu      sync.Mutex
	discard bool   // keep no layer data (benchmarks)
	diskDir string // with discard, write each layer's data to a file here instead
	layers  map[digest.Digest]*fakeLayer
	images  map[digest.Digest][]byte
	tags    map[string]digest.Digest // normalized ref string → image
	held    int                      // references handed out and not released
	reads   int                      // layers read by RegisterLayer
}

type fakeLayer struct {
	diffID digest.Digest
	parent digest.Digest
	refs   int
	data   []byte
}

func newFakeStore() *fakeStore {
	return &fakeStore{layers: map[digest.Digest]*fakeLayer{}, images: map[digest.Digest][]byte{}, tags: map[string]digest.Digest{}}
}

func (s *fakeStore) releaser(chain digest.Digest) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.layers[chain].refs--
			s.held--
			s.gc()
		})
	}
}

// gc removes the layers nothing references: no holder, no image, no child.
func (s *fakeStore) gc() {
	for {
		used := map[digest.Digest]bool{}
		for _, config := range s.images {
			for _, c := range chainsOf(config) {
				used[c] = true
			}
		}
		for _, l := range s.layers {
			if l.parent != "" {
				used[l.parent] = true
			}
		}
		removed := false
		for chain, l := range s.layers {
			if l.refs == 0 && !used[chain] {
				delete(s.layers, chain)
				removed = true
			}
		}
		if !removed {
			return
		}
	}
}

func chainsOf(config []byte) []digest.Digest {
	var c imageConfig
	if json.Unmarshal(config, &c) != nil || c.RootFS == nil {
		return nil
	}
	var out []digest.Digest
	var parent digest.Digest
	for _, d := range c.RootFS.DiffIDs {
		parent = ChainID(parent, d)
		out = append(out, parent)
	}
	return out
}

func (s *fakeStore) GetLayer(chain digest.Digest) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[chain]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
	}
	l.refs++
	s.held++
	return s.releaser(chain), nil
}

func (s *fakeStore) RegisterLayer(diff io.Reader, parent digest.Digest) (digest.Digest, digest.Digest, func(), error) {
	h := sha256.New()
	var buf bytes.Buffer
	var w io.Writer = h
	if !s.discard {
		w = io.MultiWriter(h, &buf)
	} else if s.diskDir != "" {
		f, err := os.CreateTemp(s.diskDir, "layer-")
		if err != nil {
			return "", "", nil, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		w = io.MultiWriter(h, f)
	}
	tr := tar.NewReader(io.TeeReader(diff, w))
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", nil, fmt.Errorf("%w: invalid layer tar: %v", errdefs.ErrInvalidArgument, err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return "", "", nil, fmt.Errorf("%w: invalid layer tar: %v", errdefs.ErrInvalidArgument, err)
		}
	}
	if _, err := io.Copy(w, diff); err != nil { // the rest, past the end-of-archive blocks
		return "", "", nil, err
	}
	diffID := digest.NewDigest(digest.SHA256, h)
	chain := ChainID(parent, diffID)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if parent != "" {
		if _, ok := s.layers[parent]; !ok {
			return "", "", nil, errdefs.ErrNotFound.WithMessage("parent layer " + parent.String())
		}
	}
	l, ok := s.layers[chain]
	if !ok {
		l = &fakeLayer{diffID: diffID, parent: parent, data: buf.Bytes()}
		s.layers[chain] = l
	}
	l.refs++
	s.held++
	return chain, diffID, s.releaser(chain), nil
}

func (s *fakeStore) LayerTarStream(chain digest.Digest) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[chain]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
	}
	return io.NopCloser(bytes.NewReader(l.data)), nil
}

func (s *fakeStore) CreateImage(config []byte) (digest.Digest, error) {
	var c imageConfig
	if err := json.Unmarshal(config, &c); err != nil || c.RootFS == nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("invalid config")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, chain := range chainsOf(config) {
		if _, ok := s.layers[chain]; !ok {
			return "", errdefs.ErrNotFound.WithMessage("layer " + chain.String())
		}
	}
	id := digest.FromBytes(config)
	s.images[id] = append([]byte(nil), config...)
	return id, nil
}

func (s *fakeStore) ImageConfig(id digest.Digest) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.images[id]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("image " + id.String())
	}
	return c, nil
}

func (s *fakeStore) ResolveImage(refOrID string) (digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if named, err := reference.ParseNormalizedNamed(refOrID); err == nil {
		if id, ok := s.tags[reference.TagNameOnly(named).String()]; ok {
			return id, nil
		}
	}
	hexID := strings.TrimPrefix(refOrID, "sha256:")
	var found []digest.Digest
	for id := range s.images {
		if strings.HasPrefix(id.Encoded(), hexID) && hexID != "" {
			found = append(found, id)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return "", errdefs.ErrNotFound.WithMessage("no such image: " + refOrID)
}

func (s *fakeStore) Tag(ref reference.NamedTagged, id digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; !ok {
		return errdefs.ErrNotFound.WithMessage("image " + id.String())
	}
	s.tags[ref.String()] = id
	return nil
}

func (s *fakeStore) ReferencesByName(repo reference.Named) []Association {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Association
	for t, id := range s.tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err == nil && named.Name() == repo.Name() {
			out = append(out, Association{Ref: named, ID: id})
		}
	}
	return out
}

// heldRefs is the number of layer references handed out and not released.
func (s *fakeStore) heldRefs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func (s *fakeStore) layerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.layers)
}

func (s *fakeStore) imageCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.images)
}

func (s *fakeStore) tagList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.tags {
		named, _ := reference.ParseNormalizedNamed(t)
		out = append(out, reference.FamiliarString(named))
	}
	sort.Strings(out)
	return out
}

// sizedStore is a fakeStore that is also a LayerSizer.
type sizedStore struct{ *fakeStore }

func (s sizedStore) LayerTarSize(chain digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[chain]
	if !ok {
		return 0, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
	}
	return int64(len(l.data)), nil
}

var (
	_ Store      = (*fakeStore)(nil)
	_ LayerSizer = sizedStore{}
)
