package container

// The Store's records live in one bbolt file, <root>/containers.db:
//
//	v1                        schema version 1
//	└── containers            one key per container that exists
//	    └── <id>              JSON: the Container's exported fields
//
// Names are not stored apart: they are rebuilt from the records at open, so
// a name and its container can never disagree. Each Save is one
// transaction, fsynced before it returns.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-engine/berth/internal/errclass"
)

var (
	bucketV1         = []byte("v1")
	bucketContainers = []byte("containers")

	// ErrNotFound is the class of "No such container" errors.
	ErrNotFound = errclass.New("no such container", cerrdefs.ErrNotFound)
)

// Store holds every container, in memory and in containers.db.
type Store struct {
	db *bolt.DB

	mu    sync.RWMutex
	byID  map[string]*Container
	names map[string]string // "/name" → ID; includes reserved names
}

// Open loads the store under root.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o710); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(root, "containers.db"), 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("opening container db: %w", err)
	}
	s := &Store{db: db, byID: map[string]*Container{}, names: map[string]string{}}
	err = db.Update(func(tx *bolt.Tx) error {
		v1, err := tx.CreateBucketIfNotExists(bucketV1)
		if err != nil {
			return err
		}
		b, err := v1.CreateBucketIfNotExists(bucketContainers)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			c := &Container{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("container %s: %w", k, err)
			}
			s.byID[c.ID] = c
			s.names[c.Name] = c.ID
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("loading containers: %w", err)
	}
	return s, nil
}

// Close closes the db.
func (s *Store) Close() error { return s.db.Close() }

// ReserveName claims name ("/x") for id, or fails with Docker's conflict.
func (s *Store) ReserveName(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.names[name]; ok && other != id {
		return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other))
	}
	s.names[name] = id
	return nil
}

// ReleaseName frees name if id holds it.
func (s *Store) ReleaseName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] == id {
		delete(s.names, name)
	}
}

// Add makes c known and persists it; its name must be reserved.
func (s *Store) Add(c *Container) error {
	if err := s.Save(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.byID[c.ID] = c
	s.mu.Unlock()
	return nil
}

// Save persists c. The caller holds c's lock (or owns c exclusively).
func (s *Store) Save(c *Container) error {
	buf, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketV1).Bucket(bucketContainers).Put([]byte(c.ID), buf)
	})
	if err != nil {
		return fmt.Errorf("saving container %s: %w", ShortID(c.ID), err)
	}
	return nil
}

// Delete forgets c and frees its name.
func (s *Store) Delete(c *Container) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketV1).Bucket(bucketContainers).Delete([]byte(c.ID))
	})
	if err != nil {
		return fmt.Errorf("deleting container %s: %w", ShortID(c.ID), err)
	}
	s.mu.Lock()
	delete(s.byID, c.ID)
	if s.names[c.Name] == c.ID {
		delete(s.names, c.Name)
	}
	s.mu.Unlock()
	return nil
}

// Rename moves c from its name to newName ("/x"), which must be free; the
// caller holds c's lock and saves c.
func (s *Store) Rename(c *Container, newName string) error {
	if err := s.ReserveName(newName, c.ID); err != nil {
		return err
	}
	s.ReleaseName(c.Name, c.ID)
	c.Name = newName
	return nil
}

// Get resolves a full ID, a name (with or without "/"), or a unique ID
// prefix, in Docker's order.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, errclass.Errorf(ErrNotFound, "No such container: %s", ref)
	}
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := s.names[name]; ok {
		if c, ok := s.byID[id]; ok {
			return c, nil
		}
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage("multiple IDs found with provided prefix: " + ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, errclass.Errorf(ErrNotFound, "No such container: %s", ref)
	}
	return found, nil
}

// List returns every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// IsNotFound reports whether err is a "No such container".
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
