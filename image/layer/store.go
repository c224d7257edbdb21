package layer

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/locker"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/internal/txbatch"
)

// Store keeps layers in a graphdriver and their metadata in <root>/layers.db.
// It is safe for concurrent use. The Store does not own the driver: Close
// does not call the driver's Cleanup.
type Store struct {
	root   string
	driver graphdriver.Driver
	db     *bolt.DB
	commit *txbatch.Committer
	log    *logrus.Entry

	chainLocks *locker.Locker // per chain ID: record commit vs. removal
	nameLocks  *locker.Locker // per read-write layer name
	gcMu       sync.Mutex

	mu     sync.Mutex
	layers map[ChainID]*roLayer
	mounts map[string]*rwLayer
}

// New opens the layer store in root over driver: it loads every layer and
// read-write layer, removes the driver layers of interrupted registrations
// and removals (logging each), and drops records whose driver layer is gone.
// Reference counts start at what child layers and read-write layers hold;
// the caller acquires its own (image store) and then calls GC.
func New(root string, driver graphdriver.Driver, log *logrus.Entry) (*Store, error) {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	s := &Store{
		root:       root,
		driver:     driver,
		log:        log.WithField("driver", driver.String()),
		chainLocks: locker.New(),
		nameLocks:  locker.New(),
		layers:     map[ChainID]*roLayer{},
		mounts:     map[string]*rwLayer{},
	}
	if err := os.MkdirAll(s.tarDir(), 0o700); err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	db, err := bolt.Open(s.dbPath(), 0o600, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("layer store: opening %s: %w", s.dbPath(), err)
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("layer store: %w", err)
	}
	s.commit = txbatch.New(db)
	return s, nil
}

func (s *Store) dbPath() string { return filepath.Join(s.root, "layers.db") }

// Close stops committing and closes the db. References held are forgotten.
func (s *Store) Close() error {
	s.commit.Close()
	return s.db.Close()
}

// Driver is the graphdriver the store keeps its layers in.
func (s *Store) Driver() graphdriver.Driver { return s.driver }

// load reads the db, drops what is unusable and sweeps pending driver layers.
func (s *Store) load() error {
	if err := s.db.Update(initSchema); err != nil {
		return err
	}
	snap, err := loadSnapshot(s.db)
	if err != nil {
		return err
	}
	for _, k := range snap.corrupt {
		s.log.WithField("layer", k).Warn("layer record is corrupt; dropping it (its driver layer, if any, is leaked)")
	}

	// Build the layers bottom-up; a layer whose driver layer or parent is
	// missing is dropped, and so is everything above it.
	var dropIDs []ChainID
	var dropCache []string
	dropped := map[ChainID]bool{}
	var build func(id ChainID, depth int) *roLayer
	build = func(id ChainID, depth int) *roLayer {
		if l := s.layers[id]; l != nil {
			return l
		}
		if dropped[id] {
			return nil
		}
		rec, ok := snap.layers[id]
		if !ok || depth > len(snap.layers) {
			return nil
		}
		drop := func(why string) *roLayer {
			s.log.WithFields(logrus.Fields{"layer": id, "cache-id": rec.CacheID}).Warnf("dropping layer: %s", why)
			dropped[id] = true
			dropIDs = append(dropIDs, id)
			dropCache = append(dropCache, rec.CacheID)
			return nil
		}
		var parent *roLayer
		if rec.Parent != "" {
			if parent = build(rec.Parent, depth+1); parent == nil {
				return drop("its parent " + string(rec.Parent) + " is missing")
			}
		}
		if !s.driver.Exists(rec.CacheID) {
			return drop("its driver layer is missing")
		}
		if _, err := os.Stat(s.tarPath(rec.Tar)); err != nil {
			s.log.WithField("layer", id).WithError(err).Warn("layer's original diff is missing: it can be used but not saved or pushed")
		}
		l := &roLayer{
			store:    s,
			chainID:  id,
			diffID:   rec.DiffID,
			parent:   parent,
			cacheID:  rec.CacheID,
			tar:      rec.Tar,
			tarSize:  rec.TarSize,
			size:     rec.Size,
			diffSize: rec.DiffSize,

			unreproducible: rec.Unreproducible,
		}
		if parent != nil {
			parent.refs++
		}
		s.layers[id] = l
		return l
	}
	for id := range snap.layers {
		build(id, 0)
	}
	if len(dropIDs) > 0 {
		if err := s.db.Update(dropRecords(bucketLayers, dropIDs, dropCache)); err != nil {
			return fmt.Errorf("dropping unusable layer records: %w", err)
		}
		snap.pending = append(snap.pending, dropCache...)
	}

	// Shared init layers: dropped with their layer, or when the driver
	// lost them (the next container makes a new one).
	var dropInitIDs []ChainID
	var dropInitCache []string
	for id, initID := range snap.inits {
		if l := s.layers[id]; l != nil && s.driver.Exists(initID) {
			l.init = initID
			continue
		}
		dropInitIDs = append(dropInitIDs, id)
		dropInitCache = append(dropInitCache, initID)
	}
	if len(dropInitIDs) > 0 {
		if err := s.db.Update(dropRecords(bucketInits, dropInitIDs, dropInitCache)); err != nil {
			return fmt.Errorf("dropping unusable init layer records: %w", err)
		}
		snap.pending = append(snap.pending, dropInitCache...)
	}

	for name, rec := range snap.mounts {
		var parent *roLayer
		if rec.Parent != "" {
			if parent = s.layers[rec.Parent]; parent == nil {
				s.log.WithFields(logrus.Fields{"rwlayer": name, "parent": rec.Parent}).Error("read-write layer's parent layer is missing; not loading it (its data is kept)")
				continue
			}
			parent.refs++
		}
		s.mounts[name] = &rwLayer{store: s, name: name, rec: rec, parent: parent}
	}

	// Driver layers of interrupted registrations, creations and removals.
	var swept []string
	for _, cacheID := range snap.pending {
		if s.driver.Exists(cacheID) {
			if err := s.driver.Remove(cacheID); err != nil {
				s.log.WithField("cache-id", cacheID).WithError(err).Warn("removing driver layer left by an interrupted operation; will retry at next start")
				continue
			}
			s.log.WithField("cache-id", cacheID).Warn("removed driver layer left by an interrupted layer operation")
		}
		s.removeTars(cacheID)
		swept = append(swept, cacheID)
	}
	if len(swept) > 0 {
		if err := s.db.Update(deletePending(swept...)); err != nil {
			return fmt.Errorf("clearing pending layers: %w", err)
		}
	}

	// Tar files that no record names.
	known := make(map[string]bool, len(s.layers))
	for _, l := range s.layers {
		known[l.tar] = true
	}
	entries, err := os.ReadDir(s.tarDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		if err := os.RemoveAll(s.tarPath(e.Name())); err == nil {
			s.log.WithField("file", e.Name()).Warn("removed layer diff metadata file that no layer record names")
		}
	}
	return nil
}

// Register applies diff, an uncompressed layer tar, on top of the layer
// parent ("" for a base layer) and returns a reference to the resulting
// layer. The stream is read to EOF: its sha256 is the layer's DiffID. If a
// layer with the resulting chain ID exists already, the new copy is dropped
// and a reference to the existing one is returned. Nothing is recorded
// unless the diff applied completely. A diff with an EarlyWriteback method
// returning false opts out of early writeback (see writeback.go).
func (s *Store) Register(diff io.Reader, parent ChainID) (Layer, error) {
	var p *roLayer
	if parent != "" {
		var err error
		if p, err = s.acquire(parent); err != nil {
			return nil, fmt.Errorf("register layer on %s: %w", parent, err)
		}
	}
	ref, keptParent, err := s.register(diff, p)
	if p != nil && !keptParent {
		if _, rerr := s.release(p); rerr != nil {
			s.log.WithError(rerr).Warn("releasing parent layer after register")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register layer: %w", err)
	}
	return ref, nil
}

// register creates the layer on p, whose reference the caller holds; it
// reports whether the new layer took that reference over.
//
// The diff is read, hashed and split (tar-split metadata to its file) in
// one goroutine while the driver extracts it in this one.
func (s *Store) register(diff io.Reader, p *roLayer) (_ *layerRef, keptParent bool, _ error) {
	cacheID := randomID()
	if err := s.commit.Update(addPending(cacheID)); err != nil {
		return nil, false, fmt.Errorf("recording pending layer: %w", err)
	}
	if err := s.driver.Create(cacheID, cacheIDOf(p)); err != nil {
		s.removeDriverLayers(cacheID)
		return nil, false, err
	}
	meta, err := s.createSplit(tarName(cacheID))
	if err != nil {
		s.removeDriverLayers(cacheID)
		return nil, false, fmt.Errorf("creating diff metadata file: %w", err)
	}
	src := &errReader{r: diff}
	var written chan writtenFile
	var dir string
	if dg, ok := s.driver.(graphdriver.DiffGetter); ok && earlyWriteback(diff) {
		if d, err := dg.DiffPath(cacheID); err == nil {
			dir = d
			written = make(chan writtenFile, 4096)
		}
	}
	pipe, done := startSplit(src, meta, written)
	applied := make(chan struct{})
	var wbDone <-chan struct{}
	if written != nil {
		wbDone = startWriteback(dir, pipe, written, applied)
	}
	diffSize, err := s.driver.ApplyDiff(cacheID, cacheIDOf(p), pipe)
	if err == nil {
		// The digest covers the whole stream, padding after the tar's end
		// included (the drivers read it all; this is in case).
		_, err = io.Copy(io.Discard, pipe)
	}
	if err == nil {
		close(applied)
	}
	pipe.closeRead()
	res := <-done
	if wbDone != nil {
		<-wbDone
	}
	if err == nil {
		err = res.err
	}
	if err == nil {
		err = meta.finish()
	} else {
		meta.abort()
	}
	if err != nil {
		s.removeDriverLayers(cacheID)
		return nil, false, classifyApplyError(err, src.err)
	}

	diffID := res.diffID
	var parentID ChainID
	var parentSize int64
	if p != nil {
		parentID, parentSize = p.chainID, p.size
	}
	chainID := ChildChainID(parentID, diffID)

	s.chainLocks.Lock(string(chainID))
	defer s.chainLocks.Unlock(string(chainID))
	s.mu.Lock()
	if existing := s.layers[chainID]; existing != nil {
		existing.refs++
		s.mu.Unlock()
		s.removeDriverLayers(cacheID)
		return &layerRef{roLayer: existing}, false, nil
	}
	s.mu.Unlock()

	rec := layerRecord{
		DiffID:   diffID,
		Parent:   parentID,
		CacheID:  cacheID,
		Size:     parentSize + diffSize,
		DiffSize: diffSize,
		Tar:      tarName(cacheID),
		TarSize:  res.size,
		Created:  time.Now().UTC(),
	}
	l := &roLayer{
		store:    s,
		chainID:  chainID,
		diffID:   diffID,
		parent:   p,
		cacheID:  cacheID,
		tar:      rec.Tar,
		tarSize:  rec.TarSize,
		size:     rec.Size,
		diffSize: diffSize,
		refs:     1,
	}
	if len(res.doubt) > 0 {
		if err := s.checkReproducible(l); err != nil {
			rec.Unreproducible = fmt.Sprintf("entries of the diff replace or delete others (%s): %v", strings.Join(res.doubt, ", "), err)
			l.unreproducible = rec.Unreproducible
			s.log.WithFields(logrus.Fields{"layer": chainID, "diff-id": diffID}).Warnf("layer registered, but its diff cannot be reproduced (save and push will fail): %s", rec.Unreproducible)
		}
	}
	if err := s.commit.Update(commitLayer(chainID, rec)); err != nil {
		s.removeDriverLayers(cacheID)
		return nil, false, fmt.Errorf("recording layer %s: %w", chainID, err)
	}
	s.mu.Lock()
	s.layers[chainID] = l
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{"layer": chainID, "diff-id": diffID, "size": diffSize}).Debug("registered layer")
	return &layerRef{roLayer: l}, true, nil
}

// checkReproducible reassembles l's diff and checks it hashes to its
// DiffID.
func (s *Store) checkReproducible(l *roLayer) error {
	rc, err := s.openSplit(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := getChunk()
	defer putChunk(buf)
	_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf[:cap(buf)])
	return err
}

// errReader remembers the error of the caller's stream, to tell it apart
// from the driver's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// classifyApplyError tells the caller's fault from the host's. The source
// failing is reported as is; a system call failing (no space, I/O error,
// permission) is the host's; anything else the tar reader or the extractor
// refused (truncated or garbled tar, paths or links escaping the layer) is
// ErrInvalidDiff.
func classifyApplyError(err, srcErr error) error {
	var (
		pathErr *fs.PathError
		linkErr *os.LinkError
		sysErr  *os.SyscallError
		errno   syscall.Errno
	)
	switch {
	case srcErr != nil:
		return fmt.Errorf("reading diff: %w", srcErr)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrInsecurePath):
		return fmt.Errorf("%w: %w", ErrInvalidDiff, err)
	case errors.As(err, &pathErr), errors.As(err, &linkErr), errors.As(err, &sysErr), errors.As(err, &errno):
		return fmt.Errorf("applying diff: %w", err)
	default:
		return fmt.Errorf("%w: %w", ErrInvalidDiff, err)
	}
}

// Get returns a new reference to the layer chainID.
func (s *Store) Get(id ChainID) (Layer, error) {
	l, err := s.acquire(id)
	if err != nil {
		return nil, err
	}
	return &layerRef{roLayer: l}, nil
}

// acquire takes a reference on the layer id.
func (s *Store) acquire(id ChainID) (*roLayer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.layers[id]
	if l == nil {
		return nil, fmt.Errorf("layer %s: %w", id, ErrLayerNotFound)
	}
	l.refs++
	return l, nil
}

// Release gives back a reference from Register or Get. When nobody holds
// the layer any more (no reference, no child, no read-write layer on it), it
// is removed, and so are the parents it was the last holder of; the removed
// layers are returned, top first. Removal errors are logged and returned,
// and the layers are gone from the store either way (what the driver failed
// to delete is retried at the next start).
func (s *Store) Release(l Layer) ([]Metadata, error) {
	ref, ok := l.(*layerRef)
	if !ok || ref.store != s {
		return nil, ErrNotReferenced
	}
	s.mu.Lock()
	if ref.released {
		s.mu.Unlock()
		return nil, fmt.Errorf("layer %s: %w (released twice)", ref.chainID, ErrNotReferenced)
	}
	ref.released = true
	s.mu.Unlock()
	return s.release(ref.roLayer)
}

// release drops one reference on l and removes what nobody holds any more.
func (s *Store) release(l *roLayer) ([]Metadata, error) {
	var removed []Metadata
	var errs []error
	for l != nil {
		s.mu.Lock()
		l.refs--
		if l.refs > 0 {
			s.mu.Unlock()
			break
		}
		if s.layers[l.chainID] == l {
			delete(s.layers, l.chainID)
		}
		s.mu.Unlock()
		if err := s.deleteLayer(l); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, l.metadata())
		l = l.parent
	}
	return removed, errors.Join(errs...)
}

// deleteLayer removes l, already out of the map, from the db and the driver.
func (s *Store) deleteLayer(l *roLayer) error {
	s.chainLocks.Lock(string(l.chainID))
	defer s.chainLocks.Unlock(string(l.chainID))
	s.mu.Lock()
	initID := l.init
	s.mu.Unlock()
	if err := s.commit.Update(uncommitLayer(l.chainID, l.cacheID, initID)); err != nil {
		s.log.WithField("layer", l.chainID).WithError(err).Error("deleting layer record; the layer returns at next start and is collected then")
		return fmt.Errorf("removing layer %s: %w", l.chainID, err)
	}
	s.log.WithField("layer", l.chainID).Debug("removing layer")
	if err := s.removeDriverLayers(initID, l.cacheID); err != nil {
		return fmt.Errorf("removing layer %s: %w", l.chainID, err)
	}
	return nil
}

// removeDriverLayers removes pending driver layers and their diff files and
// takes them out of pending. On failure they stay pending, for New.
func (s *Store) removeDriverLayers(ids ...string) error {
	var errs []error
	var done []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		if s.driver.Exists(id) {
			if err := s.driver.Remove(id); err != nil {
				s.log.WithField("cache-id", id).WithError(err).Warn("removing driver layer; will retry at next start")
				errs = append(errs, err)
				continue
			}
		}
		if err := s.removeTars(id); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, id)
	}
	if len(done) > 0 {
		if err := s.commit.Update(deletePending(done...)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Map returns every layer by chain ID. The values are views, not
// references: do not Release them.
func (s *Store) Map() map[ChainID]Layer {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[ChainID]Layer, len(s.layers))
	for id, l := range s.layers {
		m[id] = l
	}
	return m
}

// GC removes every layer that nobody holds: no reference, no child layer,
// no read-write layer. The daemon calls it at start once the image store
// has acquired its images' layers, which collects the leftovers of loads
// and pulls that a crash interrupted. It returns the removed layers.
func (s *Store) GC() ([]Metadata, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	s.mu.Lock()
	var unheld []*roLayer
	for id, l := range s.layers {
		if l.refs <= 0 {
			unheld = append(unheld, l)
			delete(s.layers, id)
		}
	}
	s.mu.Unlock()
	sort.Slice(unheld, func(i, j int) bool { return unheld[i].chainID < unheld[j].chainID })

	var removed []Metadata
	var errs []error
	for _, l := range unheld {
		if err := s.deleteLayer(l); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, l.metadata())
		s.log.WithField("layer", l.chainID).Info("gc: removed layer that nothing references")
		if l.parent != nil {
			more, err := s.release(l.parent)
			removed = append(removed, more...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// randomID is a driver layer ID: 64 random hex digits, like Docker's.
func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
