package reference

// The reference store lives in one bbolt file, <root>/repositories.db:
//
//	v1                    schema version 1
//	└── refs              one key per reference
//	    └── <reference>   the image ID ("sha256:<hex>")
//
// A reference key is fully normalized: "docker.io/library/busybox:latest"
// for a tag, "docker.io/library/busybox@sha256:<hex>" for a digest (never
// both). Everything is loaded into memory at start; reads touch no disk.

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1   = []byte("v1")
	bucketRefs = []byte("refs")
)

func initSchema(tx *bolt.Tx) error {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return err
	}
	_, err = v1.CreateBucketIfNotExists(bucketRefs)
	return err
}

func refsBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("reference store: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(bucketRefs)
	if b == nil {
		return nil, fmt.Errorf("reference store: bucket %q missing", bucketRefs)
	}
	return b, nil
}

func putRef(key, id string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := refsBucket(tx)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(id))
	}
}

func deleteRefs(keys ...string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := refsBucket(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	}
}
