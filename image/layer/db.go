package layer

// The layer store's metadata lives in one bbolt file, <root>/layers.db:
//
//	v1                          schema version 1
//	├── layers                  one key per registered (read-only) layer
//	│   └── <chainID>           JSON: {"diffID","parent","cacheID","size","diffSize","tar","tarSize","created","unreproducible"}
//	├── mounts                  one key per read-write (container) layer
//	│   └── <name>              JSON: {"mountID","initID","parent","created","ephemeral"}
//	├── inits                   one key per layer that has a shared init layer
//	│   └── <chainID>           the init layer's cache ID
//	└── pending                 driver layers that may exist without a record
//	    └── <cacheID>           empty value
//
// chainID and parent are "sha256:<hex>" chain IDs (parent absent for a base
// layer); cacheID, mountID and initID are the graphdriver's layer IDs (64
// random hex digits, "-init" appended for init layers). A read-write layer's
// initID is the init layer shared above its parent (named in inits, made
// for the first container on that parent, removed with the parent) or, for
// a container from scratch and for layers of earlier versions, an init
// layer of its own (mountID+"-init"). size is the layer's size
// with its parents, diffSize its own (content bytes, as the driver counts
// them); tar names the file under <root>/tars/ from which the layer's
// original diff is reproduced (<cacheID>.tar-split.json.gz, or the whole
// diff in <cacheID>.tar.zst for layers of earlier versions; see
// tarfile.go), tarSize is the diff's length, and unreproducible, when
// present, says why it cannot be reproduced. ephemeral, when true, says the
// read-write layer is mounted without syncs (RWLayerOptions.Ephemeral).
//
// The db is the truth about which layers exist. Every driver layer is
// announced in pending (committed) before the driver creates it, and leaves
// pending in the same transaction that writes its record; a removal moves it
// back to pending in the transaction that deletes the record and leaves
// pending once the driver removed it. So a crash at any point leaves either a
// record or a pending key for every driver layer that may exist, and New
// removes whatever is pending (driver layer and tar-split file) and logs it. The
// driver interface cannot list layers, which is why the intent is written
// down instead of discovered.
//
// Reference counts are not persisted: they are rebuilt at start from the
// records (a child layer or a read-write layer holds its parent) plus what
// the image store acquires; GC then removes what nobody holds.

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1      = []byte("v1")
	bucketLayers  = []byte("layers")
	bucketMounts  = []byte("mounts")
	bucketPending = []byte("pending")
	bucketInits   = []byte("inits")
)

// layerRecord is a read-only layer's persisted metadata.
type layerRecord struct {
	DiffID   DiffID    `json:"diffID"`
	Parent   ChainID   `json:"parent,omitempty"`
	CacheID  string    `json:"cacheID"`
	Size     int64     `json:"size"`
	DiffSize int64     `json:"diffSize"`
	Tar      string    `json:"tar"`
	TarSize  int64     `json:"tarSize"`
	Created  time.Time `json:"created"`

	Unreproducible string `json:"unreproducible,omitempty"`
}

// mountRecord is a read-write layer's persisted metadata.
type mountRecord struct {
	MountID string    `json:"mountID"`
	InitID  string    `json:"initID,omitempty"`
	Parent  ChainID   `json:"parent,omitempty"`
	Created time.Time `json:"created"`
	// Ephemeral: mounted without syncs (RWLayerOptions.Ephemeral).
	Ephemeral bool `json:"ephemeral,omitempty"`
}

func initSchema(tx *bolt.Tx) error {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketLayers, bucketMounts, bucketPending, bucketInits} {
		if _, err := v1.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("layer metadata: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("layer metadata: bucket %q missing", name)
	}
	return b, nil
}

// addPending announces driver layers that are about to be created or removed.
func addPending(ids ...string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPending)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := b.Put([]byte(id), nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// deletePending forgets driver layers that are now recorded or gone.
func deletePending(ids ...string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPending)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	}
}

// putJSON stores v as JSON under key in the v1 bucket name.
func putJSON(tx *bolt.Tx, name, key []byte, v any) error {
	b, err := bucket(tx, name)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// commitLayer writes a layer's record and takes its cache ID out of pending.
func commitLayer(id ChainID, rec layerRecord) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := putJSON(tx, bucketLayers, []byte(id), rec); err != nil {
			return err
		}
		return deletePending(rec.CacheID)(tx)
	}
}

// uncommitLayer deletes a layer's record, if it is still the one with
// cacheID (a concurrent Register may have recorded a new layer under the same
// chain ID), and its init record if it names initID ("" for none), and puts
// both cache IDs in pending until the driver removed them.
func uncommitLayer(id ChainID, cacheID, initID string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketLayers)
		if err != nil {
			return err
		}
		if data := b.Get([]byte(id)); data != nil {
			var rec layerRecord
			if err := json.Unmarshal(data, &rec); err != nil || rec.CacheID == cacheID {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		if initID != "" {
			ib, err := bucket(tx, bucketInits)
			if err != nil {
				return err
			}
			if string(ib.Get([]byte(id))) == initID {
				if err := ib.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		return addPending(cacheID, initID)(tx)
	}
}

// commitMount writes a read-write layer's record and takes its own driver
// layers (owned: the read-write layer, an init layer of its own) out of
// pending.
func commitMount(name string, rec mountRecord, owned ...string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := putJSON(tx, bucketMounts, []byte(name), rec); err != nil {
			return err
		}
		return deletePending(owned...)(tx)
	}
}

// uncommitMount deletes a read-write layer's record and puts its own driver
// layers in pending until the driver removed them.
func uncommitMount(name string, owned ...string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketMounts)
		if err != nil {
			return err
		}
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		return addPending(owned...)(tx)
	}
}

// commitInit records initID as the init layer shared above the layer id and
// takes it out of pending.
func commitInit(id ChainID, initID string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketInits)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(id), []byte(initID)); err != nil {
			return err
		}
		return deletePending(initID)(tx)
	}
}

// snapshot is everything the db holds, read at start.
type snapshot struct {
	layers  map[ChainID]layerRecord
	mounts  map[string]mountRecord
	inits   map[ChainID]string
	pending []string
	corrupt []string // keys of layers whose record does not parse
}

func loadSnapshot(db *bolt.DB) (*snapshot, error) {
	snap := &snapshot{layers: map[ChainID]layerRecord{}, mounts: map[string]mountRecord{}, inits: map[ChainID]string{}}
	err := db.View(func(tx *bolt.Tx) error {
		lb, err := bucket(tx, bucketLayers)
		if err != nil {
			return err
		}
		if err := lb.ForEach(func(k, v []byte) error {
			var rec layerRecord
			if err := json.Unmarshal(v, &rec); err != nil || rec.CacheID == "" {
				snap.corrupt = append(snap.corrupt, string(k))
				return nil
			}
			snap.layers[ChainID(k)] = rec
			return nil
		}); err != nil {
			return err
		}
		mb, err := bucket(tx, bucketMounts)
		if err != nil {
			return err
		}
		if err := mb.ForEach(func(k, v []byte) error {
			var rec mountRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("read-write layer %q: corrupt record: %w", k, err)
			}
			snap.mounts[string(k)] = rec
			return nil
		}); err != nil {
			return err
		}
		ib, err := bucket(tx, bucketInits)
		if err != nil {
			return err
		}
		if err := ib.ForEach(func(k, v []byte) error {
			snap.inits[ChainID(k)] = string(v)
			return nil
		}); err != nil {
			return err
		}
		pb, err := bucket(tx, bucketPending)
		if err != nil {
			return err
		}
		return pb.ForEach(func(k, _ []byte) error {
			snap.pending = append(snap.pending, string(k))
			return nil
		})
	})
	return snap, err
}

// dropRecords deletes the records ids of the bucket name (layers, inits)
// found unusable at start (corrupt, driver layer or parent missing) and
// puts their cache IDs in pending, so that the pending sweep removes what
// is left of them.
func dropRecords(name []byte, ids []ChainID, cacheIDs []string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return addPending(cacheIDs...)(tx)
	}
}
