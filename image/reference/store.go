// Package reference is the reference store: the tags (name:tag) and
// digests (name@sha256:...) that point to local images.
//
// References are stored normalized, as Docker does: a reference without a
// tag or digest means :latest (distribution/reference.TagNameOnly), and
// `busybox` is `docker.io/library/busybox`; show them to users with
// distribution/reference.FamiliarString. A tag moves when it is added for
// another image; a digest reference conflicts unless forced. Names that
// look like image IDs (64 hex digits) are refused.
//
// Import it under another name than distribution's package, e.g.
//
//	refstore "github.com/berth-engine/berth/image/reference"
package reference

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	distref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/txbatch"
)

// Association is a reference and the image it points to.
type Association struct {
	Ref distref.Named
	ID  image.ID
}

// Store keeps references in <root>/repositories.db and in memory. It is
// safe for concurrent use.
type Store struct {
	db     *bolt.DB
	commit *txbatch.Committer
	log    *logrus.Entry

	wmu sync.Mutex // serializes writers (check + commit + apply)

	mu   sync.RWMutex
	refs map[string]stored // by normalized reference string
	byID map[image.ID]map[string]struct{}
}

type stored struct {
	ref distref.Named
	id  image.ID
}

// NewStore opens the reference store in root and loads every reference;
// a key that no longer parses is dropped with a warning.
func NewStore(root string, log *logrus.Entry) (*Store, error) {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("reference store: %w", err)
	}
	path := filepath.Join(root, "repositories.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("reference store: opening %s: %w", path, err)
	}
	s := &Store{db: db, log: log, refs: map[string]stored{}, byID: map[image.ID]map[string]struct{}{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("reference store: %w", err)
	}
	s.commit = txbatch.New(db)
	return s, nil
}

func (s *Store) load() error {
	if err := s.db.Update(initSchema); err != nil {
		return err
	}
	var bad []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := refsBucket(tx)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			ref, err := distref.ParseNamed(string(k))
			id := image.ID(v)
			if err == nil {
				err = digest.Digest(id).Validate()
			}
			if err != nil {
				s.log.WithField("reference", string(k)).WithError(err).Warn("dropping unparsable reference")
				bad = append(bad, string(k))
				return nil
			}
			s.insert(string(k), ref, id)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return s.db.Update(deleteRefs(bad...))
	}
	return nil
}

// Close closes the db.
func (s *Store) Close() error {
	s.commit.Close()
	return s.db.Close()
}

var idLike = regexp.MustCompile(`^[a-f0-9]{64}$`)

// Normalize returns the form of ref the store keys on: fully qualified,
// :latest if it has neither tag nor digest, and without its tag if it has a
// digest. It refuses names that look like image IDs.
func Normalize(ref distref.Named) (distref.Named, error) {
	if ref == nil {
		return nil, fmt.Errorf("%w: empty reference", ErrInvalidReference)
	}
	if name := distref.FamiliarName(ref); idLike.MatchString(name) || idLike.MatchString(distref.Path(ref)) {
		return nil, fmt.Errorf("%w %q: cannot specify 64-byte hexadecimal strings as a repository name", ErrInvalidReference, ref.String())
	}
	n, err := distref.ParseNormalizedNamed(ref.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	if c, ok := n.(distref.Canonical); ok {
		if _, tagged := n.(distref.Tagged); tagged {
			return distref.WithDigest(distref.TrimNamed(n), c.Digest())
		}
		return n, nil
	}
	return distref.TagNameOnly(n), nil
}

// AddTag points the tag ref (":latest" if it has none) to id. A tag that
// points to another image is moved to id; force is accepted for symmetry
// with AddDigest and changes nothing. A reference with a digest is refused.
func (s *Store) AddTag(ref distref.Named, id image.ID, force bool) error {
	if _, ok := ref.(distref.Canonical); ok {
		return fmt.Errorf("%w %q: refusing to create a tag with a digest reference", ErrInvalidReference, ref.String())
	}
	return s.add(ref, id, true)
}

// AddDigest points the digest reference ref to id. If it points to another
// image already, it is moved only with force (ErrConflict otherwise).
func (s *Store) AddDigest(ref distref.Canonical, id image.ID, force bool) error {
	if ref == nil {
		return fmt.Errorf("%w: empty reference", ErrInvalidReference)
	}
	return s.add(ref, id, force)
}

func (s *Store) add(ref distref.Named, id image.ID, force bool) error {
	n, err := Normalize(ref)
	if err != nil {
		return err
	}
	if distref.FamiliarName(n) == string(digest.Canonical) {
		return fmt.Errorf("%w %q: refusing to create an ambiguous tag using digest algorithm as name", ErrInvalidReference, distref.FamiliarString(n))
	}
	if err := digest.Digest(id).Validate(); err != nil {
		return fmt.Errorf("%w: image ID %q: %w", ErrInvalidReference, id, err)
	}
	key := n.String()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	old, exists := s.refs[key]
	s.mu.RUnlock()
	if exists {
		if old.id == id {
			return nil
		}
		if c, isDigest := n.(distref.Canonical); isDigest && !force {
			return fmt.Errorf("%w: cannot overwrite digest %s (it points to %s)", ErrConflict, c.Digest(), old.id)
		}
	}
	if err := s.commit.Update(putRef(key, string(id))); err != nil {
		return fmt.Errorf("adding reference %s: %w", distref.FamiliarString(n), err)
	}
	s.mu.Lock()
	if exists {
		s.remove(key, old.id)
	}
	s.insert(key, n, id)
	s.mu.Unlock()
	return nil
}

// Delete removes the reference (":latest" if it has neither tag nor
// digest). It reports false with ErrDoesNotExist if there is none.
func (s *Store) Delete(ref distref.Named) (bool, error) {
	n, err := Normalize(ref)
	if err != nil {
		return false, err
	}
	key := n.String()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	old, exists := s.refs[key]
	s.mu.RUnlock()
	if !exists {
		return false, fmt.Errorf("%s: %w", distref.FamiliarString(n), ErrDoesNotExist)
	}
	if err := s.commit.Update(deleteRefs(key)); err != nil {
		return false, fmt.Errorf("deleting reference %s: %w", distref.FamiliarString(n), err)
	}
	s.mu.Lock()
	s.remove(key, old.id)
	s.mu.Unlock()
	return true, nil
}

// Get returns the image ref points to (":latest" if it has neither tag nor
// digest; by digest alone if it has both).
func (s *Store) Get(ref distref.Named) (image.ID, error) {
	n, err := Normalize(ref)
	if err != nil {
		return "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.refs[n.String()]
	if !ok {
		return "", fmt.Errorf("%s: %w", distref.FamiliarString(n), ErrDoesNotExist)
	}
	return st.id, nil
}

// References returns the references to id, sorted by their familiar form.
func (s *Store) References(id image.ID) []distref.Named {
	s.mu.RLock()
	keys := s.byID[id]
	refs := make([]distref.Named, 0, len(keys))
	for k := range keys {
		refs = append(refs, s.refs[k].ref)
	}
	s.mu.RUnlock()
	sortRefs(refs)
	return refs
}

// ReferencesByName returns the references in the repository of name (its
// tag or digest, if any, is ignored), sorted by their familiar form.
func (s *Store) ReferencesByName(name distref.Named) []Association {
	if name == nil {
		return nil
	}
	n, err := distref.ParseNormalizedNamed(distref.TrimNamed(name).String())
	if err != nil {
		return nil
	}
	repo := n.Name()
	var out []Association
	s.mu.RLock()
	for _, st := range s.refs {
		if st.ref.Name() == repo {
			out = append(out, Association{Ref: st.ref, ID: st.id})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Association) int {
		return strings.Compare(distref.FamiliarString(a.Ref), distref.FamiliarString(b.Ref))
	})
	return out
}

func sortRefs(refs []distref.Named) {
	slices.SortFunc(refs, func(a, b distref.Named) int {
		return strings.Compare(distref.FamiliarString(a), distref.FamiliarString(b))
	})
}

// insert and remove update the maps; the caller holds mu (or is loading).
func (s *Store) insert(key string, ref distref.Named, id image.ID) {
	s.refs[key] = stored{ref: ref, id: id}
	m := s.byID[id]
	if m == nil {
		m = map[string]struct{}{}
		s.byID[id] = m
	}
	m[key] = struct{}{}
}

func (s *Store) remove(key string, id image.ID) {
	delete(s.refs, key)
	if m := s.byID[id]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(s.byID, id)
		}
	}
}
