package image

// The image store's data lives in one bbolt file, <root>/images.db:
//
//	v1                          schema version 1
//	├── configs                 one key per image
//	│   └── <id>                the raw config JSON; <id> ("sha256:<hex>") is its digest
//	└── meta                    optional per-image metadata
//	    └── <id>                bucket
//	        ├── parent          the local parent image's ID
//	        └── lastUpdated     RFC 3339 time the image was last tagged
//
// Configs live in the db rather than as files under content/sha256 (as in
// Docker's imagedb): a create is then one transaction, durable and atomic
// on return, with no temp-file/fsync/rename dance and no orphan files to
// sweep after a crash; configs are small (a few KiB) and read once at start.
// Every key of configs is verified against its digest when loaded.

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1      = []byte("v1")
	bucketConfigs = []byte("configs")
	bucketMeta    = []byte("meta")

	keyParent      = []byte("parent")
	keyLastUpdated = []byte("lastUpdated")
)

func initSchema(tx *bolt.Tx) error {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketConfigs, bucketMeta} {
		if _, err := v1.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("image metadata: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("image metadata: bucket %q missing", name)
	}
	return b, nil
}

func putConfig(id ID, config []byte) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketConfigs)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), config)
	}
}

// deleteImages deletes images' configs and metadata, and the links of
// children whose parent is still parent.
func deleteImages(ids []ID, children []ID, parent ID) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		cb, err := bucket(tx, bucketConfigs)
		if err != nil {
			return err
		}
		mb, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := cb.Delete([]byte(id)); err != nil {
				return err
			}
			if mb.Bucket([]byte(id)) != nil {
				if err := mb.DeleteBucket([]byte(id)); err != nil {
					return err
				}
			}
		}
		for _, c := range children {
			if m := mb.Bucket([]byte(c)); m != nil && string(m.Get(keyParent)) == string(parent) {
				if err := m.Delete(keyParent); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func putMeta(id ID, key, value []byte) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		mb, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		m, err := mb.CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		if value == nil {
			return m.Delete(key)
		}
		return m.Put(key, value)
	}
}

// stored is an image as read from the db.
type stored struct {
	config      []byte
	parent      ID
	lastUpdated time.Time
}

func loadAll(db *bolt.DB) (map[ID]*stored, error) {
	out := map[ID]*stored{}
	err := db.View(func(tx *bolt.Tx) error {
		cb, err := bucket(tx, bucketConfigs)
		if err != nil {
			return err
		}
		mb, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		return cb.ForEach(func(k, v []byte) error {
			st := &stored{config: append([]byte(nil), v...)}
			if m := mb.Bucket(k); m != nil {
				if p := m.Get(keyParent); p != nil {
					st.parent = ID(p)
				}
				if t := m.Get(keyLastUpdated); t != nil {
					st.lastUpdated, _ = time.Parse(time.RFC3339Nano, string(t))
				}
			}
			out[ID(k)] = st
			return nil
		})
	})
	return out, err
}
