package layer

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/moby/go-archive"
)

// RWLayer is a container's read-write layer: the driver layer the container
// writes to, on an init layer (the files the daemon writes for every
// container: /etc/hosts, /etc/hostname, /etc/resolv.conf), on the image's
// top layer. It holds a reference on that layer until ReleaseRWLayer.
type RWLayer interface {
	// Name is the name it was created with (the container ID).
	Name() string
	// Parent is the image layer below, nil for a container from scratch.
	// It is a view, not a reference: do not Release it.
	Parent() Layer
	// Mount makes the layer's full filesystem available and returns its
	// path. Mounts are counted; every Mount needs an Unmount.
	Mount() (string, error)
	// Unmount releases one Mount; it does nothing if none is held.
	Unmount() error
	// Mounted reports whether a Mount is held (ReleaseRWLayer refuses the
	// layer then).
	Mounted() bool
	// Changes lists what the container changed (against the init layer).
	Changes() ([]archive.Change, error)
	// TarStream is the container's changes as an uncompressed layer tar,
	// suitable for Register (commit) or export.
	TarStream() (io.ReadCloser, error)
	// Size is the size of the container's changes.
	Size() (int64, error)
	// Created is when the layer was created.
	Created() time.Time
}

type rwLayer struct {
	store  *Store
	name   string
	rec    mountRecord
	parent *roLayer

	mu      sync.Mutex
	mounts  int
	removed bool
}

func (r *rwLayer) Name() string       { return r.name }
func (r *rwLayer) Created() time.Time { return r.rec.Created }

func (r *rwLayer) Parent() Layer {
	if r.parent == nil {
		return nil
	}
	return r.parent
}

// base is the driver layer the container's changes are measured against.
func (r *rwLayer) base() string {
	if r.rec.InitID != "" {
		return r.rec.InitID
	}
	return cacheIDOf(r.parent)
}

// ownInit is the init layer that goes with r: "" when r has none or
// shares its parent's.
func (r *rwLayer) ownInit() string {
	if r.rec.InitID == "" || r.parent == nil {
		return r.rec.InitID
	}
	r.store.mu.Lock()
	shared := r.parent.init
	r.store.mu.Unlock()
	if r.rec.InitID == shared {
		return ""
	}
	return r.rec.InitID
}

func (r *rwLayer) Mount() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return "", fmt.Errorf("mount %s: %w", r.name, ErrRWLayerNotFound)
	}
	dir, err := r.store.get(r.rec.MountID, r.rec.Ephemeral)
	if err != nil {
		return "", fmt.Errorf("mount %s: %w", r.name, err)
	}
	r.mounts++
	return dir, nil
}

func (r *rwLayer) Mounted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mounts > 0
}

func (r *rwLayer) Unmount() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mounts == 0 {
		return nil
	}
	if err := r.store.driver.Put(r.rec.MountID); err != nil {
		return fmt.Errorf("unmount %s: %w", r.name, err)
	}
	r.mounts--
	return nil
}

func (r *rwLayer) Changes() ([]archive.Change, error) {
	ch, err := r.store.driver.Changes(r.rec.MountID, r.base())
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", r.name, err)
	}
	return ch, nil
}

func (r *rwLayer) TarStream() (io.ReadCloser, error) {
	rc, err := r.store.driver.Diff(r.rec.MountID, r.base())
	if err != nil {
		return nil, fmt.Errorf("diff of %s: %w", r.name, err)
	}
	return rc, nil
}

func (r *rwLayer) Size() (int64, error) {
	n, err := r.store.driver.DiffSize(r.rec.MountID, r.base())
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", r.name, err)
	}
	return n, nil
}

// RWLayerOptions are a read-write layer's options.
type RWLayerOptions struct {
	// Init, if set, puts an init layer between the parent and the
	// read-write layer: it is called with the init layer's mounted root to
	// write the per-container placeholders, and a failing Init fails the
	// create. The init layer above a parent is made once, by the first
	// create that asks for one, and shared by every read-write layer on
	// that parent until the parent is removed (a container from scratch
	// gets its own): Init must write the same files every time. It is
	// mounted ephemeral for Init (see Ephemeral): a crash can only lose
	// empty placeholders that the runtime makes again.
	Init func(root string) error
	// Ephemeral marks a layer whose content need not survive a crash (a
	// `run --rm` container's): drivers that can mount it without syncs
	// (graphdriver.EphemeralGetter) do.
	Ephemeral bool
}

// CreateRWLayer creates the read-write layer name on the layer parent (""
// for scratch), taking a reference on parent. The layer is recorded, so it
// survives a restart, until ReleaseRWLayer.
func (s *Store) CreateRWLayer(name string, parent ChainID, o RWLayerOptions) (RWLayer, error) {
	if name == "" {
		return nil, fmt.Errorf("create read-write layer: empty name")
	}
	s.nameLocks.Lock(name)
	defer s.nameLocks.Unlock(name)
	s.mu.Lock()
	_, exists := s.mounts[name]
	s.mu.Unlock()
	if exists {
		return nil, fmt.Errorf("create read-write layer %s: %w", name, ErrRWLayerExists)
	}

	var p *roLayer
	if parent != "" {
		var err error
		if p, err = s.acquire(parent); err != nil {
			return nil, fmt.Errorf("create read-write layer %s: %w", name, err)
		}
	}
	r, err := s.createRW(name, p, o)
	if err != nil {
		if p != nil {
			if _, rerr := s.release(p); rerr != nil {
				s.log.WithError(rerr).Warn("releasing parent layer after failed read-write layer create")
			}
		}
		return nil, fmt.Errorf("create read-write layer %s: %w", name, err)
	}
	return r, nil
}

func (s *Store) createRW(name string, p *roLayer, o RWLayerOptions) (*rwLayer, error) {
	rec := mountRecord{MountID: randomID(), Parent: "", Created: time.Now().UTC(), Ephemeral: o.Ephemeral}
	if p != nil {
		rec.Parent = p.chainID
	}
	below := cacheIDOf(p)
	var ownInit string // the init layer of a container from scratch
	if o.Init != nil {
		if p != nil {
			id, err := s.sharedInit(p, o.Init)
			if err != nil {
				return nil, err
			}
			rec.InitID = id
		} else {
			rec.InitID = rec.MountID + "-init"
			ownInit = rec.InitID
		}
	}
	if err := s.commit.Update(addPending(rec.MountID, ownInit)); err != nil {
		return nil, fmt.Errorf("recording pending layer: %w", err)
	}
	fail := func(err error) (*rwLayer, error) {
		s.removeDriverLayers(rec.MountID, ownInit)
		return nil, err
	}
	if ownInit != "" {
		if err := s.makeInit(ownInit, below, o.Init); err != nil {
			return fail(err)
		}
	}
	if rec.InitID != "" {
		below = rec.InitID
	}
	if err := s.driver.CreateReadWrite(rec.MountID, below); err != nil {
		return fail(err)
	}
	if err := s.commit.Update(commitMount(name, rec, rec.MountID, ownInit)); err != nil {
		return fail(fmt.Errorf("recording read-write layer: %w", err))
	}
	r := &rwLayer{store: s, name: name, rec: rec, parent: p}
	s.mu.Lock()
	s.mounts[name] = r
	s.mu.Unlock()
	return r, nil
}

// sharedInit returns the init layer above p, making it first if p has
// none. The caller holds a reference on p, so p is not removed meanwhile.
func (s *Store) sharedInit(p *roLayer, init func(string) error) (string, error) {
	s.chainLocks.Lock(string(p.chainID))
	defer s.chainLocks.Unlock(string(p.chainID))
	s.mu.Lock()
	id := p.init
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id = randomID() + "-init"
	if err := s.commit.Update(addPending(id)); err != nil {
		return "", fmt.Errorf("recording pending init layer: %w", err)
	}
	if err := s.makeInit(id, p.cacheID, init); err != nil {
		s.removeDriverLayers(id)
		return "", err
	}
	if err := s.commit.Update(commitInit(p.chainID, id)); err != nil {
		s.removeDriverLayers(id)
		return "", fmt.Errorf("recording init layer: %w", err)
	}
	s.mu.Lock()
	p.init = id
	s.mu.Unlock()
	return id, nil
}

// makeInit creates the driver layer id on below and runs init in it.
func (s *Store) makeInit(id, below string, init func(string) error) error {
	if err := s.driver.CreateReadWrite(id, below); err != nil {
		return fmt.Errorf("creating init layer: %w", err)
	}
	dir, err := s.get(id, true)
	if err != nil {
		return fmt.Errorf("mounting init layer: %w", err)
	}
	err = init(dir)
	if perr := s.driver.Put(id); err == nil && perr != nil {
		err = fmt.Errorf("unmounting init layer: %w", perr)
	}
	if err != nil {
		return fmt.Errorf("initializing layer: %w", err)
	}
	return nil
}

// GetRWLayer returns the read-write layer name. It takes no reference:
// there is one read-write layer per name, until ReleaseRWLayer.
func (s *Store) GetRWLayer(name string) (RWLayer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mounts[name]
	if r == nil {
		return nil, fmt.Errorf("read-write layer %s: %w", name, ErrRWLayerNotFound)
	}
	return r, nil
}

// RWLayers names every read-write layer, sorted (for the daemon to match
// against its containers at start).
func (s *Store) RWLayers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.mounts))
	for name := range s.mounts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ReleaseRWLayer removes a read-write layer and its init layer, and releases
// its reference on its parent; it returns the image layers that this
// removed in turn. A mounted layer is refused with ErrActiveMount.
func (s *Store) ReleaseRWLayer(rw RWLayer) ([]Metadata, error) {
	r, ok := rw.(*rwLayer)
	if !ok || r.store != s {
		return nil, fmt.Errorf("release read-write layer: %w", ErrRWLayerNotFound)
	}
	s.nameLocks.Lock(r.name)
	defer s.nameLocks.Unlock(r.name)
	r.mu.Lock()
	if r.removed {
		r.mu.Unlock()
		return nil, fmt.Errorf("release read-write layer %s: %w", r.name, ErrRWLayerNotFound)
	}
	if r.mounts > 0 {
		r.mu.Unlock()
		return nil, fmt.Errorf("release read-write layer %s: %w (%d mounts)", r.name, ErrActiveMount, r.mounts)
	}
	r.removed = true
	r.mu.Unlock()

	ownInit := r.ownInit()
	if err := s.commit.Update(uncommitMount(r.name, r.rec.MountID, ownInit)); err != nil {
		r.mu.Lock()
		r.removed = false
		r.mu.Unlock()
		return nil, fmt.Errorf("release read-write layer %s: deleting record: %w", r.name, err)
	}
	s.mu.Lock()
	if s.mounts[r.name] == r {
		delete(s.mounts, r.name)
	}
	s.mu.Unlock()
	err := s.removeDriverLayers(r.rec.MountID, ownInit)
	if err != nil {
		err = fmt.Errorf("release read-write layer %s: %w", r.name, err)
	}
	var removed []Metadata
	if r.parent != nil {
		var rerr error
		removed, rerr = s.release(r.parent)
		err = joinErr(err, rerr)
	}
	return removed, err
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

// get mounts driver layer id, without syncs if ephemeral and the driver
// can (see graphdriver.EphemeralGetter).
func (s *Store) get(id string, ephemeral bool) (string, error) {
	if eg, ok := s.driver.(graphdriver.EphemeralGetter); ok && ephemeral {
		return eg.GetEphemeral(id)
	}
	return s.driver.Get(id)
}
