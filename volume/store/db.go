package store

// The VolumeStore's metadata lives in one bbolt file, <root>/metadata.db:
//
//	v1                        schema version 1
//	└── volumes               one key per volume that exists
//	    └── <name>            JSON record: {"driver","labels","options","created"}
//
// The db is the truth about which volumes exist; the quota count is rebuilt
// from it at start. A create writes its key only after the driver made the
// volume, and a remove deletes the key only after the driver removed it, so a
// crash in between leaves driver data without a key (an interrupted create) or
// a key without driver data (an interrupted remove). reconcile mends both at
// start and logs what it did.

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1      = []byte("v1")
	bucketVolumes = []byte("volumes")
)

// record is a volume's persisted metadata.
type record struct {
	Driver  string            `json:"driver"`
	Labels  map[string]string `json:"labels,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`
}

func volumesBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("volume metadata: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(bucketVolumes)
	if b == nil {
		return nil, fmt.Errorf("volume metadata: bucket %q missing", bucketVolumes)
	}
	return b, nil
}

// initSchema creates the buckets of a new db. An existing one is only read:
// a bbolt commit costs two fdatasyncs, at every start.
func initSchema(db *bolt.DB) error {
	var ok bool
	if err := db.View(func(tx *bolt.Tx) error {
		_, err := volumesBucket(tx)
		ok = err == nil
		return nil
	}); err != nil || ok {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		v1, err := tx.CreateBucketIfNotExists(bucketV1)
		if err != nil {
			return err
		}
		_, err = v1.CreateBucketIfNotExists(bucketVolumes)
		return err
	})
}

func putRecord(name string, r record) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := volumesBucket(tx)
		if err != nil {
			return err
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), data)
	}
}

func deleteRecord(name string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := volumesBucket(tx)
		if err != nil {
			return err
		}
		return b.Delete([]byte(name))
	}
}

// loadRecords reads every volume record.
func loadRecords(db *bolt.DB) (map[string]record, error) {
	recs := map[string]record{}
	err := db.View(func(tx *bolt.Tx) error {
		b, err := volumesBucket(tx)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("volume %q: corrupt record: %w", k, err)
			}
			recs[string(k)] = r
			return nil
		})
	})
	return recs, err
}
