package image

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/locker"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/image/layer"
	"github.com/berth-engine/berth/internal/txbatch"
)

// Store keeps image configs and metadata in <root>/images.db and holds a
// layer store reference on each image's top layer. Everything is in memory
// after NewStore; reads touch no disk. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	commit *txbatch.Committer
	layers *layer.Store
	log    *logrus.Entry
	locks  *locker.Locker // per image ID

	mu       sync.RWMutex
	images   map[ID]*entry
	children map[ID]map[ID]struct{}
}

type entry struct {
	img         *Image      // immutable; Parent and LastUpdated are below
	layer       layer.Layer // the reference held, nil for no layers
	parent      ID
	lastUpdated time.Time
}

// NewStore opens the image store in root. It loads every image and acquires
// its layer chain from layers; an image whose config does not match its ID
// is deleted with a warning; one whose layers are missing is skipped with a
// warning and kept in the db (its layers may return: another graphdriver, a
// restored data root). Parent links to images that do not exist are
// dropped. Call layers.GC after it.
func NewStore(root string, layers *layer.Store, log *logrus.Entry) (*Store, error) {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	path := filepath.Join(root, "images.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("image store: opening %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		layers:   layers,
		log:      log,
		locks:    locker.New(),
		images:   map[ID]*entry{},
		children: map[ID]map[ID]struct{}{},
	}
	if err := s.load(); err != nil {
		s.releaseAll()
		db.Close()
		return nil, fmt.Errorf("image store: %w", err)
	}
	s.commit = txbatch.New(db)
	return s, nil
}

func (s *Store) load() error {
	if err := s.db.Update(initSchema); err != nil {
		return err
	}
	all, err := loadAll(s.db)
	if err != nil {
		return err
	}
	var corrupt []ID
	for id, st := range all {
		e, err := s.loadOne(id, st.config)
		switch {
		case errors.Is(err, errCorrupt):
			s.log.WithField("image", id).WithError(err).Warn("deleting corrupt image record")
			corrupt = append(corrupt, id)
			continue
		case err != nil:
			// Kept in the db: the layers may come back (another
			// graphdriver, a restored data root).
			s.log.WithField("image", id).WithError(err).Warn("skipping image whose layers are missing")
			continue
		}
		e.lastUpdated = st.lastUpdated
		s.images[id] = e
	}
	var unlink []ID
	for id, e := range s.images {
		p := all[id].parent
		switch {
		case p == "":
		case s.images[p] != nil:
			e.parent = p
			s.addChild(p, id)
		case all[p] == nil || slices.Contains(corrupt, p):
			s.log.WithFields(logrus.Fields{"image": id, "parent": p}).Warn("dropping link to a parent image that does not exist")
			unlink = append(unlink, id)
		}
	}
	if len(corrupt) > 0 || len(unlink) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			if err := deleteImages(corrupt, nil, "")(tx); err != nil {
				return err
			}
			for _, id := range unlink {
				if err := putMeta(id, keyParent, nil)(tx); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("deleting corrupt image records: %w", err)
		}
	}
	return nil
}

// errCorrupt marks a stored config that can never load.
var errCorrupt = errors.New("corrupt image record")

func (s *Store) loadOne(id ID, config []byte) (*entry, error) {
	if err := digest.Digest(id).Validate(); err != nil {
		return nil, fmt.Errorf("%w: invalid ID: %w", errCorrupt, err)
	}
	if got := ID(digest.FromBytes(config)); got != id {
		return nil, fmt.Errorf("%w: config digest is %s", errCorrupt, got)
	}
	img, err := Parse(config)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	e := &entry{img: img}
	if img.ChainID != "" {
		l, err := s.layers.Get(img.ChainID)
		if err != nil {
			return nil, fmt.Errorf("its layers: %w", err)
		}
		e.layer = l
		img.Size = l.Size()
	}
	return e, nil
}

// releaseAll gives back the layer references (after a failed load).
func (s *Store) releaseAll() {
	for _, e := range s.images {
		if e.layer != nil {
			s.layers.Release(e.layer)
		}
	}
}

// Close closes the db. The layer references the store holds are not
// released (a restart rebuilds them); reopen it with a fresh layer store.
func (s *Store) Close() error {
	s.commit.Close()
	return s.db.Close()
}

// Create stores an image config and returns its ID, the config's digest.
// The config must be valid (see Parse) and its layer chain must exist in
// the layer store; the store takes a reference on it. Creating an image
// that exists returns its ID.
func (s *Store) Create(config []byte) (ID, error) {
	id := ID(digest.FromBytes(config))
	s.locks.Lock(string(id))
	defer s.locks.Unlock(string(id))
	s.mu.RLock()
	_, exists := s.images[id]
	s.mu.RUnlock()
	if exists {
		return id, nil
	}
	img, err := Parse(bytes.Clone(config))
	if err != nil {
		return "", fmt.Errorf("create image: %w", err)
	}
	e := &entry{img: img}
	if img.ChainID != "" {
		l, err := s.layers.Get(img.ChainID)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return "", fmt.Errorf("create image %s: %w: %v", id, ErrLayersMissing, err)
			}
			return "", fmt.Errorf("create image %s: %w", id, err)
		}
		e.layer = l
		img.Size = l.Size()
	}
	if err := s.commit.Update(putConfig(id, img.raw)); err != nil {
		if e.layer != nil {
			s.layers.Release(e.layer)
		}
		return "", fmt.Errorf("create image %s: %w", id, err)
	}
	s.mu.Lock()
	s.images[id] = e
	s.mu.Unlock()
	return id, nil
}

// Get returns the image id.
func (s *Store) Get(id ID) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.images[id]
	if e == nil {
		return nil, fmt.Errorf("%s: %w", id, ErrImageNotFound)
	}
	return e.snapshot(), nil
}

func (e *entry) snapshot() *Image {
	img := *e.img
	img.Parent = e.parent
	img.LastUpdated = e.lastUpdated
	return &img
}

// Search resolves a full or short image ID, with or without "sha256:",
// Docker's way: a unique prefix of the hex digest names the image, an
// ambiguous one is ErrAmbiguousPrefix, no match is ErrImageNotFound.
func (s *Store) Search(term string) (ID, error) {
	hexPart := strings.TrimPrefix(term, digest.SHA256.String()+":")
	if hexPart == "" || len(hexPart) > 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%s: %w", term, ErrImageNotFound)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(hexPart) == 64 {
		id := ID(digest.SHA256.String() + ":" + hexPart)
		if s.images[id] == nil {
			return "", fmt.Errorf("%s: %w", term, ErrImageNotFound)
		}
		return id, nil
	}
	const skip = len("sha256:")
	var found ID
	for id := range s.images {
		if strings.HasPrefix(string(id)[skip:], hexPart) {
			if found != "" {
				return "", fmt.Errorf("%s: %w", term, ErrAmbiguousPrefix)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("%s: %w", term, ErrImageNotFound)
	}
	return found, nil
}

// Delete removes the image, the parent links of its children, and its
// reference on its layers; it returns the layers this removed (those that
// no other image or container held). Whether the image may be deleted
// (tags, containers, children) is the caller's decision.
func (s *Store) Delete(id ID) ([]layer.Metadata, error) {
	s.locks.Lock(string(id))
	defer s.locks.Unlock(string(id))
	s.mu.RLock()
	e := s.images[id]
	children := sortedIDs(s.children[id])
	s.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("delete %s: %w", id, ErrImageNotFound)
	}
	if err := s.commit.Update(deleteImages([]ID{id}, children, id)); err != nil {
		return nil, fmt.Errorf("delete %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.images, id)
	for _, c := range children {
		if ce := s.images[c]; ce != nil && ce.parent == id {
			ce.parent = ""
		}
	}
	delete(s.children, id)
	if e.parent != "" {
		s.removeChild(e.parent, id)
	}
	s.mu.Unlock()
	if e.layer == nil {
		return nil, nil
	}
	removed, err := s.layers.Release(e.layer)
	if err != nil {
		return removed, fmt.Errorf("delete %s: releasing its layers: %w", id, err)
	}
	return removed, nil
}

// SetParent records parent as id's local parent image (build, commit).
func (s *Store) SetParent(id, parent ID) error {
	if id == parent {
		return fmt.Errorf("set parent of %s: %w: an image cannot be its own parent", id, ErrInvalidConfig)
	}
	// Lock both, in a fixed order, against a concurrent Delete of either.
	first, second := id, parent
	if second < first {
		first, second = second, first
	}
	s.locks.Lock(string(first))
	defer s.locks.Unlock(string(first))
	s.locks.Lock(string(second))
	defer s.locks.Unlock(string(second))

	s.mu.RLock()
	e, p := s.images[id], s.images[parent]
	s.mu.RUnlock()
	if e == nil {
		return fmt.Errorf("set parent of %s: %w", id, ErrImageNotFound)
	}
	if p == nil {
		return fmt.Errorf("set parent of %s: parent %s: %w", id, parent, ErrImageNotFound)
	}
	if err := s.commit.Update(putMeta(id, keyParent, []byte(parent))); err != nil {
		return fmt.Errorf("set parent of %s: %w", id, err)
	}
	s.mu.Lock()
	if e.parent != "" {
		s.removeChild(e.parent, id)
	}
	e.parent = parent
	s.addChild(parent, id)
	s.mu.Unlock()
	return nil
}

// GetParent returns id's local parent image, "" if it has none.
func (s *Store) GetParent(id ID) (ID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.images[id]
	if e == nil {
		return "", fmt.Errorf("%s: %w", id, ErrImageNotFound)
	}
	return e.parent, nil
}

// Children returns the images whose local parent is id, sorted.
func (s *Store) Children(id ID) []ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedIDs(s.children[id])
}

// SetLastUpdated records when the image was last tagged.
func (s *Store) SetLastUpdated(id ID, t time.Time) error {
	s.locks.Lock(string(id))
	defer s.locks.Unlock(string(id))
	s.mu.RLock()
	e := s.images[id]
	s.mu.RUnlock()
	if e == nil {
		return fmt.Errorf("set last updated of %s: %w", id, ErrImageNotFound)
	}
	t = t.UTC()
	if err := s.commit.Update(putMeta(id, keyLastUpdated, []byte(t.Format(time.RFC3339Nano)))); err != nil {
		return fmt.Errorf("set last updated of %s: %w", id, err)
	}
	s.mu.Lock()
	e.lastUpdated = t
	s.mu.Unlock()
	return nil
}

// List returns every image, sorted by ID.
func (s *Store) List() []*Image {
	s.mu.RLock()
	out := make([]*Image, 0, len(s.images))
	for _, e := range s.images {
		out = append(out, e.snapshot())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Image) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// Map returns every image by ID.
func (s *Store) Map() map[ID]*Image {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[ID]*Image, len(s.images))
	for id, e := range s.images {
		out[id] = e.snapshot()
	}
	return out
}

// Len is the number of images.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.images)
}

func (s *Store) addChild(parent, child ID) {
	m := s.children[parent]
	if m == nil {
		m = map[ID]struct{}{}
		s.children[parent] = m
	}
	m[child] = struct{}{}
}

func (s *Store) removeChild(parent, child ID) {
	if m := s.children[parent]; m != nil {
		delete(m, child)
		if len(m) == 0 {
			delete(s.children, parent)
		}
	}
}

func sortedIDs(m map[ID]struct{}) []ID {
	if len(m) == 0 {
		return nil
	}
	out := make([]ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
