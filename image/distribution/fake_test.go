package distribution

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"sort"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// fakeStore is an in-memory Store that does the real arithmetic: diff IDs
// are the sha256 of the streams, chain IDs chain, image IDs are
// sha256(config), and layers are reference counted and collected when
// nothing holds them.
type fakeStore struct {
	mu       sync.Mutex
	layers   map[digest.Digest]*fakeLayer
	images   map[digest.Digest][]byte
	refs     map[string]digest.Digest // normalized reference → image
	held     int                      // references handed out and not released
	order    []digest.Digest          // chain IDs in registration order
	failNext error                    // the next RegisterLayer fails with it
	// onRegister, if set, runs first in RegisterLayer; an error it
	// returns (after reading some of diff, say) is RegisterLayer's.
	onRegister func(diff io.Reader) error
}

type fakeLayer struct {
	diffID digest.Digest
	parent digest.Digest
	refs   int
	data   []byte
}

func newFakeStore() *fakeStore {
	return &fakeStore{layers: map[digest.Digest]*fakeLayer{}, images: map[digest.Digest][]byte{}, refs: map[string]digest.Digest{}}
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
	s.mu.Lock()
	if err := s.failNext; err != nil {
		s.failNext = nil
		s.mu.Unlock()
		return "", "", nil, err
	}
	hook := s.onRegister
	s.mu.Unlock()
	if hook != nil {
		if err := hook(diff); err != nil {
			return "", "", nil, err
		}
	}
	var buf bytes.Buffer
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, &buf), diff); err != nil {
		return "", "", nil, err
	}
	diffID := digest.NewDigest(digest.SHA256, h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if parent != "" {
		if _, ok := s.layers[parent]; !ok {
			return "", "", nil, errdefs.ErrNotFound.WithMessage("parent " + parent.String())
		}
	}
	chain := ChainID(parent, diffID)
	l, ok := s.layers[chain]
	if !ok {
		l = &fakeLayer{diffID: diffID, parent: parent, data: buf.Bytes()}
		s.layers[chain] = l
	}
	l.refs++
	s.held++
	s.order = append(s.order, chain)
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

func (s *fakeStore) LayerTarSize(chain digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[chain]
	if !ok {
		return 0, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
	}
	return int64(len(l.data)), nil
}

func (s *fakeStore) CreateImage(config []byte) (digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range chainsOf(config) {
		if _, ok := s.layers[c]; !ok {
			return "", errdefs.ErrNotFound.WithMessage("layer " + c.String() + " of the image")
		}
	}
	id := digest.FromBytes(config)
	s.images[id] = append([]byte{}, config...)
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
	if n, err := reference.ParseNormalizedNamed(refOrID); err == nil {
		return s.LookupReference(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[digest.Digest(refOrID)]; ok {
		return digest.Digest(refOrID), nil
	}
	return "", errdefs.ErrNotFound.WithMessage(refOrID)
}

func normalizeRef(ref reference.Named) string {
	if _, ok := ref.(reference.Canonical); ok {
		return ref.String()
	}
	return reference.TagNameOnly(ref).String()
}

func (s *fakeStore) LookupReference(ref reference.Named) (digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.refs[normalizeRef(ref)]
	if !ok {
		return "", errdefs.ErrNotFound.WithMessage("reference " + ref.String())
	}
	return id, nil
}

func (s *fakeStore) Tag(ref reference.NamedTagged, id digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[normalizeRef(ref)] = id
	return nil
}

func (s *fakeStore) AddDigest(ref reference.Canonical, id digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[ref.String()] = id
	return nil
}

func (s *fakeStore) ReferencesByName(repo reference.Named) []Association {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Association
	for k, id := range s.refs {
		n, err := reference.ParseNamed(k)
		if err == nil && n.Name() == repo.Name() {
			out = append(out, Association{Ref: n, ID: id})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.String() < out[j].Ref.String() })
	return out
}

// snapshot counts what the store holds.
func (s *fakeStore) snapshot() (layers, images, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.layers), len(s.images), s.held
}
