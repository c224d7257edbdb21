package network

// The Controller's records live in one bbolt file, <root>/networks.db
// (addresses are the ipam package's, in <root>/ipam.db); nobody else opens it:
//
//	v1                                  schema version 1
//	├── networks                        one key per network that exists
//	│   └── <network id>                JSON Network: name, driver, subnet,
//	│                                   gateway, bridge, options, labels...
//	└── endpoints                       one bucket per network with endpoints
//	    └── <network id>
//	        └── <container id>          JSON Endpoint: IP, MAC, gateway, host
//	                                    veth, aliases, ports actually bound
//
// The db says which networks and endpoints exist; the kernel state (bridges,
// the nftables table, proxies) and the DNS table are rebuilt from it by New.
// A network's record is written after its IPAM entry and before its bridge,
// and deleted after its bridge and before its IPAM entry; an endpoint's record
// is written last in Connect and deleted before its address is released in
// Disconnect. So a crash leaves at worst an IPAM entry or allocation without
// a record, which New releases (see reconcileIPAM), or a record whose bridge
// is missing, which New recreates.

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketV1        = []byte("v1")
	bucketNetworks  = []byte("networks")
	bucketEndpoints = []byte("endpoints")
)

func initSchema(tx *bolt.Tx) error {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return err
	}
	if _, err := v1.CreateBucketIfNotExists(bucketNetworks); err != nil {
		return err
	}
	_, err = v1.CreateBucketIfNotExists(bucketEndpoints)
	return err
}

func topBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil, fmt.Errorf("networks db: bucket %q missing", bucketV1)
	}
	b := v1.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("networks db: bucket %q missing", name)
	}
	return b, nil
}

// putNetwork writes n's record.
func (c *Controller) putNetwork(n *Network) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return c.tx.Update(func(tx *bolt.Tx) error {
		b, err := topBucket(tx, bucketNetworks)
		if err != nil {
			return err
		}
		return b.Put([]byte(n.ID), data)
	})
}

// deleteNetwork deletes network id's record and its endpoints' records.
func (c *Controller) deleteNetwork(id string) error {
	return c.tx.Update(func(tx *bolt.Tx) error {
		b, err := topBucket(tx, bucketNetworks)
		if err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		eps, err := topBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		if eps.Bucket([]byte(id)) != nil {
			return eps.DeleteBucket([]byte(id))
		}
		return nil
	})
}

// putEndpoint writes ep's record.
func (c *Controller) putEndpoint(ep *Endpoint) error {
	data, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	return c.tx.Update(func(tx *bolt.Tx) error {
		eps, err := topBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		b, err := eps.CreateBucketIfNotExists([]byte(ep.NetworkID))
		if err != nil {
			return err
		}
		return b.Put([]byte(ep.ContainerID), data)
	})
}

// deleteEndpoint deletes the record of containerID's endpoint on networkID.
func (c *Controller) deleteEndpoint(networkID, containerID string) error {
	return c.tx.Update(func(tx *bolt.Tx) error {
		eps, err := topBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		b := eps.Bucket([]byte(networkID))
		if b == nil {
			return nil
		}
		if err := b.Delete([]byte(containerID)); err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k == nil {
			return eps.DeleteBucket([]byte(networkID))
		}
		return nil
	})
}

// load reads every network and endpoint record.
func (c *Controller) load() (map[string]*Network, []*Endpoint, error) {
	nets := map[string]*Network{}
	var eps []*Endpoint
	err := c.db.View(func(tx *bolt.Tx) error {
		nb, err := topBucket(tx, bucketNetworks)
		if err != nil {
			return err
		}
		if err := nb.ForEach(func(k, v []byte) error {
			n := new(Network)
			if err := json.Unmarshal(v, n); err != nil {
				return fmt.Errorf("network %s: %w", k, err)
			}
			nets[n.ID] = n
			return nil
		}); err != nil {
			return err
		}
		eb, err := topBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		return eb.ForEachBucket(func(nid []byte) error {
			return eb.Bucket(nid).ForEach(func(k, v []byte) error {
				ep := new(Endpoint)
				if err := json.Unmarshal(v, ep); err != nil {
					return fmt.Errorf("endpoint %s on network %s: %w", k, nid, err)
				}
				eps = append(eps, ep)
				return nil
			})
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("networks db: %w", err)
	}
	return nets, eps, nil
}
