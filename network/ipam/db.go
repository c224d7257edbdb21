package ipam

// The store's state lives in one bbolt file that the caller names (the daemon
// uses <data-root>/network/ipam.db); nobody else opens it:
//
//	v1                              schema version 1
//	└── networks                    one bucket per network
//	    └── <network id>
//	        ├── config              key: JSON {"subnet","ipRange","gateway"}
//	        ├── next                key: allocation cursor, the next address to try
//	        │                            (4 or 16 bytes; absent = start of the range)
//	        └── addrs               bucket: one key per allocated address
//	            └── <addr>          4 or 16 address bytes (so keys sort as
//	                                addresses) → owner (endpoint or container id)
//
// The gateway is part of config, never a key in addrs. An address is in addrs
// from the commit of the Allocate that handed it out until its Release, so a
// crash can leak an address (allocated, owner gone: the daemon's reconcile at
// start releases it, see Allocations) but never hand one out twice.

import (
	"encoding/json"
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1       = []byte("v1")
	bucketNetworks = []byte("networks")
	bucketAddrs    = []byte("addrs")
	keyConfig      = []byte("config")
	keyNext        = []byte("next")
)

// config is a network's persisted address configuration.
type config struct {
	Subnet  netip.Prefix `json:"subnet"`
	IPRange netip.Prefix `json:"ipRange,omitzero"`
	Gateway netip.Addr   `json:"gateway"`
}

func initSchema(tx *bolt.Tx) error {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return err
	}
	_, err = v1.CreateBucketIfNotExists(bucketNetworks)
	return err
}

func networksBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("ipam db: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(bucketNetworks)
	if b == nil {
		return nil, fmt.Errorf("ipam db: bucket %q missing", bucketNetworks)
	}
	return b, nil
}

// netBucket returns network id's bucket and its config.
func netBucket(tx *bolt.Tx, id string) (*bolt.Bucket, config, error) {
	nets, err := networksBucket(tx)
	if err != nil {
		return nil, config{}, err
	}
	b := nets.Bucket([]byte(id))
	if b == nil {
		return nil, config{}, fmt.Errorf("%w: %s", ErrNoSuchNetwork, id)
	}
	cfg, err := readConfig(b)
	if err != nil {
		return nil, config{}, fmt.Errorf("network %s: %w", id, err)
	}
	return b, cfg, nil
}

func readConfig(b *bolt.Bucket) (config, error) {
	var cfg config
	data := b.Get(keyConfig)
	if data == nil {
		return cfg, fmt.Errorf("ipam db: config missing")
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("ipam db: config: %w", err)
	}
	return cfg, nil
}
