// Package store holds the VolumeStore, the single owner of volumes: their
// metadata db, the per-daemon volume quota, per-name locks, the driver
// registry and the references that containers hold on volumes.
//
// The create path is the daemon's hottest: take the name's lock, look the name
// up in memory, reserve a quota slot, let the driver create, commit the record
// (batched with concurrent commits, durable on return), publish the event.
// Nothing on it lists volumes or scans the disk.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/moby/locker"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/internal/txbatch"
)

// AnonymousLabel marks volumes created without a name, as Docker does; prune
// removes only those unless asked for all.
const AnonymousLabel = "com.docker.volume.anonymous"

// DefaultDriver is used when a create names none.
const DefaultDriver = "local"

// Driver is what the store needs of a volume driver.
type Driver interface {
	Name() string
	Scope() string
	// Validate checks a name and options; it must not touch the disk.
	Validate(name string, opts map[string]string) error
	Create(name string, opts map[string]string) error
	Remove(name string) error
	// List names the volumes the driver has data for.
	List() ([]string, error)
	Path(name string) string
	Mount(name string, opts map[string]string, ref string) (string, error)
	Unmount(name, ref string) error
	Size(ctx context.Context, name string) (int64, error)
}

// EventFunc publishes a volume event (create, destroy, mount, unmount,
// quota-exceeded) with its attributes.
type EventFunc func(action, name string, attrs map[string]string)

// Config configures New.
type Config struct {
	// Root holds metadata.db.
	Root string
	// MaxVolumes is the quota; 0 means unlimited.
	MaxVolumes int
	Drivers    []Driver
	Events     EventFunc
	Log        *logrus.Entry
}

// Volume is a volume as the store describes it. Its maps are shared with the
// store and must not be modified.
type Volume struct {
	Name       string
	Driver     string
	Scope      string
	Mountpoint string
	Labels     map[string]string
	Options    map[string]string
	CreatedAt  time.Time
	// Refs are the references (container IDs) holding the volume.
	Refs []string
}

// Anonymous reports whether the volume was created without a name.
func (v Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// CreateOptions describes a volume to create. An empty Name creates an
// anonymous volume with a random name.
type CreateOptions struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	// Ref, if set, is taken as a reference (Acquire) in the same step, so
	// a prune cannot remove the volume between its create and its use.
	Ref string
}

// VolumeStore is the daemon's volume subsystem.
type VolumeStore struct {
	db      *bolt.DB
	commit  *txbatch.Committer
	locks   *locker.Locker
	drivers map[string]Driver
	events  EventFunc
	log     *logrus.Entry
	quota   quota

	mu   sync.RWMutex
	vols map[string]*entry
}

type entry struct {
	name string
	rec  record
	refs map[string]struct{}
}

// New opens the metadata db under cfg.Root, loads every volume, reconciles
// the drivers' data with it, and sets the quota count from the result.
func New(cfg Config) (*VolumeStore, error) {
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if cfg.Events == nil {
		cfg.Events = func(string, string, map[string]string) {}
	}
	if err := os.MkdirAll(cfg.Root, 0o701); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Root, "metadata.db"), 0o600, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("volume store: opening metadata db: %w", err)
	}
	s := &VolumeStore{
		db:      db,
		locks:   locker.New(),
		drivers: map[string]Driver{},
		events:  cfg.Events,
		log:     cfg.Log,
		vols:    map[string]*entry{},
	}
	for _, d := range cfg.Drivers {
		s.drivers[d.Name()] = d
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("volume store: %w", err)
	}
	s.commit = txbatch.New(db)
	s.quota.used = len(s.vols)
	s.quota.max = cfg.MaxVolumes
	return s, nil
}

// load reads the db and reconciles it with what the drivers hold on disk.
func (s *VolumeStore) load() error {
	if err := initSchema(s.db); err != nil {
		return err
	}
	recs, err := loadRecords(s.db)
	if err != nil {
		return err
	}
	adopted := map[string]record{}
	for dname, d := range s.drivers {
		onDisk, err := d.List()
		if err != nil {
			return fmt.Errorf("listing volumes of driver %s: %w", dname, err)
		}
		seen := make(map[string]bool, len(onDisk))
		for _, name := range onDisk {
			seen[name] = true
			if _, ok := recs[name]; ok {
				continue
			}
			if d.Validate(name, nil) != nil {
				continue // not a volume directory
			}
			if empty, _ := isEmptyDir(d.Path(name)); empty {
				// An interrupted create: nobody was told the volume exists.
				if err := d.Remove(name); err != nil {
					return fmt.Errorf("removing leftover of interrupted create %q: %w", name, err)
				}
				s.log.WithField("volume", name).Warn("reconcile: removed empty volume directory left by an interrupted create")
				continue
			}
			// Data without metadata: keep the data, make it a volume again.
			adopted[name] = record{Driver: dname, Created: time.Now().UTC()}
			s.log.WithField("volume", name).Warn("reconcile: volume directory with data had no metadata; adopted it as a volume")
		}
		for name, r := range recs {
			if r.Driver != dname || seen[name] {
				continue
			}
			// An interrupted remove, or data deleted by hand.
			if err := d.Create(name, r.Options); err != nil {
				return fmt.Errorf("recreating data directory of volume %q: %w", name, err)
			}
			s.log.WithField("volume", name).Warn("reconcile: volume had no data directory; recreated it empty")
		}
	}
	if len(adopted) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for name, r := range adopted {
				if err := putRecord(name, r)(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("recording adopted volumes: %w", err)
		}
		maps.Copy(recs, adopted)
	}
	for name, r := range recs {
		if _, ok := s.drivers[r.Driver]; !ok {
			s.log.WithFields(logrus.Fields{"volume": name, "driver": r.Driver}).Warn("volume's driver is not available; volume still counts against the quota")
		}
		s.vols[name] = &entry{name: name, rec: r}
	}
	return nil
}

func isEmptyDir(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && err != nil, nil
}

// Close stops the committer and closes the db. The API must be down first.
func (s *VolumeStore) Close() error {
	s.commit.Close()
	return s.db.Close()
}

// SetMaxVolumes changes the quota live. Lowering it below the count keeps
// every volume and refuses new ones until enough are removed.
func (s *VolumeStore) SetMaxVolumes(n int) (old int) { return s.quota.setMax(n) }

// Quota returns the slots in use (volumes plus creates in flight) and the max.
func (s *VolumeStore) Quota() (inUse, max int) { return s.quota.get() }

// Drivers names the registered volume drivers.
func (s *VolumeStore) Drivers() []string {
	names := slices.Collect(maps.Keys(s.drivers))
	sort.Strings(names)
	return names
}

// Create creates a volume, or returns the existing one of that name (Docker's
// semantics: a re-create is not an error and takes no quota slot).
func (s *VolumeStore) Create(ctx context.Context, o CreateOptions) (Volume, error) {
	if o.Name == "" {
		o.Name = randomName()
		labels := make(map[string]string, len(o.Labels)+1)
		maps.Copy(labels, o.Labels)
		labels[AnonymousLabel] = ""
		o.Labels = labels
	}
	dname := o.Driver
	if dname == "" {
		dname = DefaultDriver
	}
	d, ok := s.drivers[dname]
	if !ok {
		return Volume{}, fmt.Errorf("create %s: error looking up volume plugin %s: %w", o.Name, dname, ErrNoSuchDriver)
	}
	if err := d.Validate(o.Name, o.DriverOpts); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", o.Name, err)
	}

	s.locks.Lock(o.Name)
	defer s.locks.Unlock(o.Name)

	if e := s.lookup(o.Name); e != nil {
		if o.Driver != "" && e.rec.Driver != dname {
			return Volume{}, fmt.Errorf("create %s: %w (it exists with driver %s)", o.Name, ErrNameConflict, e.rec.Driver)
		}
		if o.Ref != "" {
			s.mu.Lock()
			if e.refs == nil {
				e.refs = map[string]struct{}{}
			}
			e.refs[o.Ref] = struct{}{}
			s.mu.Unlock()
		}
		return s.volume(e), nil
	}

	if err := s.quota.reserve(); err != nil {
		var qe *QuotaError
		if errors.As(err, &qe) {
			s.log.WithFields(logrus.Fields{"volume": o.Name, "in-use": qe.InUse, "max-volumes": qe.Max}).Warn("volume create refused: quota full")
			s.events("quota-exceeded", o.Name, map[string]string{
				"driver": dname, "in-use": fmt.Sprint(qe.InUse), "max-volumes": fmt.Sprint(qe.Max),
			})
		}
		return Volume{}, err
	}
	if err := d.Create(o.Name, o.DriverOpts); err != nil {
		s.quota.release()
		return Volume{}, fmt.Errorf("create %s: %w", o.Name, err)
	}
	rec := record{
		Driver:  dname,
		Labels:  nonEmpty(o.Labels),
		Options: nonEmpty(o.DriverOpts),
		Created: time.Now().UTC().Truncate(time.Second),
	}
	if err := s.commit.Update(putRecord(o.Name, rec)); err != nil {
		if rerr := d.Remove(o.Name); rerr != nil {
			s.log.WithError(rerr).WithField("volume", o.Name).Error("cleaning up after failed metadata commit")
		}
		s.quota.release()
		return Volume{}, fmt.Errorf("create %s: saving metadata: %w", o.Name, err)
	}
	e := &entry{name: o.Name, rec: rec}
	if o.Ref != "" {
		e.refs = map[string]struct{}{o.Ref: {}}
	}
	s.mu.Lock()
	s.vols[o.Name] = e
	s.mu.Unlock()
	s.events("create", o.Name, map[string]string{"driver": dname})
	return s.volume(e), nil
}

// Get returns one volume.
func (s *VolumeStore) Get(_ context.Context, name string) (Volume, error) {
	e := s.lookup(name)
	if e == nil {
		return Volume{}, fmt.Errorf("get %s: %w", name, ErrNoSuchVolume)
	}
	return s.volume(e), nil
}

// List returns every volume, sorted by name.
func (s *VolumeStore) List(_ context.Context) []Volume {
	s.mu.RLock()
	out := make([]Volume, 0, len(s.vols))
	for _, e := range s.vols {
		out = append(out, s.volumeLocked(e))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove removes a volume. A volume that a container references is refused
// (409) with or without force, as in Docker: force only tolerates a volume
// that does not exist or a driver that fails to delete its data.
func (s *VolumeStore) Remove(ctx context.Context, name string, force bool) error {
	s.locks.Lock(name)
	defer s.locks.Unlock(name)
	_, err := s.removeLocked(ctx, name, force, false)
	return err
}

// removeLocked removes name, whose lock the caller holds. With measure, it
// returns the space the volume's data took.
func (s *VolumeStore) removeLocked(ctx context.Context, name string, force, measure bool) (int64, error) {
	e := s.lookup(name)
	if e == nil {
		if force {
			return 0, nil
		}
		return 0, fmt.Errorf("get %s: %w", name, ErrNoSuchVolume)
	}
	if refs := s.refsOf(e); len(refs) > 0 {
		return 0, fmt.Errorf("remove %s: %w - %v", name, ErrVolumeInUse, refs)
	}
	var size int64
	if d, ok := s.drivers[e.rec.Driver]; ok {
		if measure {
			size, _ = d.Size(ctx, name)
		}
		if err := d.Remove(name); err != nil {
			if !force {
				return 0, fmt.Errorf("remove %s: %w", name, err)
			}
			s.log.WithError(err).WithField("volume", name).Warn("force remove: driver failed to delete data; removing metadata anyway")
		}
	} else if !force {
		return 0, fmt.Errorf("remove %s: %w %s", name, ErrNoSuchDriver, e.rec.Driver)
	}
	if err := s.commit.Update(deleteRecord(name)); err != nil {
		return 0, fmt.Errorf("remove %s: deleting metadata: %w", name, err)
	}
	s.mu.Lock()
	delete(s.vols, name)
	s.mu.Unlock()
	s.quota.release()
	s.events("destroy", name, map[string]string{"driver": e.rec.Driver})
	return size, nil
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Removed        []string
	SpaceReclaimed uint64
}

// Prune removes every volume that no container references and that match
// accepts. A volume that gains a reference while prune runs is skipped.
func (s *VolumeStore) Prune(ctx context.Context, match func(Volume) bool) (PruneReport, error) {
	var rep PruneReport
	for _, v := range s.List(ctx) {
		if len(v.Refs) > 0 || !match(v) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		size, err := s.pruneOne(ctx, v.Name)
		if errors.Is(err, ErrVolumeInUse) || errors.Is(err, ErrNoSuchVolume) {
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Removed = append(rep.Removed, v.Name)
		rep.SpaceReclaimed += uint64(size)
	}
	if len(rep.Removed) > 0 {
		s.events("prune", "", map[string]string{"reclaimed": fmt.Sprint(rep.SpaceReclaimed)})
	}
	return rep, nil
}

func (s *VolumeStore) pruneOne(ctx context.Context, name string) (int64, error) {
	s.locks.Lock(name)
	defer s.locks.Unlock(name)
	return s.removeLocked(ctx, name, false, true)
}

// Acquire records that ref (a container) uses the volume, which keeps it from
// being removed or pruned until Release.
func (s *VolumeStore) Acquire(name, ref string) error {
	s.locks.Lock(name)
	defer s.locks.Unlock(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.vols[name]
	if e == nil {
		return fmt.Errorf("get %s: %w", name, ErrNoSuchVolume)
	}
	if e.refs == nil {
		e.refs = map[string]struct{}{}
	}
	e.refs[ref] = struct{}{}
	return nil
}

// Release drops ref's reference. Releasing a reference not held is a no-op.
func (s *VolumeStore) Release(name, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.vols[name]; e != nil {
		delete(e.refs, ref)
	}
}

// Mount makes the volume's data available for ref and returns its path.
// The caller must hold a reference (Acquire) for as long as it is mounted.
func (s *VolumeStore) Mount(name, ref string) (string, error) {
	e := s.lookup(name)
	if e == nil {
		return "", fmt.Errorf("mount %s: %w", name, ErrNoSuchVolume)
	}
	d, ok := s.drivers[e.rec.Driver]
	if !ok {
		return "", fmt.Errorf("mount %s: %w %s", name, ErrNoSuchDriver, e.rec.Driver)
	}
	path, err := d.Mount(name, e.rec.Options, ref)
	if err != nil {
		return "", fmt.Errorf("mount %s: %w", name, err)
	}
	s.events("mount", name, map[string]string{"driver": e.rec.Driver, "container": ref})
	return path, nil
}

// Unmount ends ref's mount of the volume.
func (s *VolumeStore) Unmount(name, ref string) error {
	e := s.lookup(name)
	if e == nil {
		return fmt.Errorf("unmount %s: %w", name, ErrNoSuchVolume)
	}
	d, ok := s.drivers[e.rec.Driver]
	if !ok {
		return fmt.Errorf("unmount %s: %w %s", name, ErrNoSuchDriver, e.rec.Driver)
	}
	if err := d.Unmount(name, ref); err != nil {
		return fmt.Errorf("unmount %s: %w", name, err)
	}
	s.events("unmount", name, map[string]string{"driver": e.rec.Driver, "container": ref})
	return nil
}

// Size reports the disk space a volume's data takes.
func (s *VolumeStore) Size(ctx context.Context, name string) (int64, error) {
	e := s.lookup(name)
	if e == nil {
		return 0, fmt.Errorf("get %s: %w", name, ErrNoSuchVolume)
	}
	d, ok := s.drivers[e.rec.Driver]
	if !ok {
		return 0, fmt.Errorf("size of %s: %w %s", name, ErrNoSuchDriver, e.rec.Driver)
	}
	return d.Size(ctx, name)
}

func (s *VolumeStore) lookup(name string) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vols[name]
}

func (s *VolumeStore) refsOf(e *entry) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedKeys(e.refs)
}

func (s *VolumeStore) volume(e *entry) Volume {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.volumeLocked(e)
}

func (s *VolumeStore) volumeLocked(e *entry) Volume {
	v := Volume{
		Name:      e.name,
		Driver:    e.rec.Driver,
		Labels:    e.rec.Labels,
		Options:   e.rec.Options,
		CreatedAt: e.rec.Created,
		Refs:      sortedKeys(e.refs),
	}
	if d, ok := s.drivers[e.rec.Driver]; ok {
		v.Scope = d.Scope()
		v.Mountpoint = d.Path(e.name)
	}
	return v
}

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// randomName is a 64-hex-digit name for an anonymous volume, like Docker's.
func randomName() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
