// Package txbatch groups concurrent bbolt write transactions into one commit.
//
// Every write that returns must be durable, and each bbolt commit costs two
// fdatasyncs. Committing writers one by one caps throughput at the disk's sync
// rate; bolt's own DB.Batch fixes that but makes a lone writer wait out
// MaxBatchDelay. A Committer instead runs one writer loop: the first call that
// arrives starts a transaction at once, and every call that queued up while the
// previous commit was syncing rides in the next one. A lone writer pays one
// commit, N parallel writers share one.
package txbatch

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("txbatch: committer is closed")

// maxBatch bounds the work done in one transaction so that a burst cannot
// build one huge commit that delays everybody in it.
const maxBatch = 256

// Committer serializes and batches write transactions on one bolt.DB.
type Committer struct {
	db   *bolt.DB
	reqs chan *call
	quit chan struct{}
	done chan struct{}
}

type call struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// New starts the writer loop for db. Close stops it.
func New(db *bolt.DB) *Committer {
	c := &Committer{
		db:   db,
		reqs: make(chan *call),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.loop()
	return c
}

// Update runs fn in a read-write transaction, possibly together with other
// callers' functions, and returns once the transaction is committed (or fn's
// own error). fn may run more than once: it must only touch the transaction.
func (c *Committer) Update(fn func(*bolt.Tx) error) error {
	cl := &call{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- cl:
	case <-c.quit:
		return ErrClosed
	}
	return <-cl.err
}

// Close stops the writer loop after the batch in flight. Callers must not
// race Close with Update; the daemon closes stores after the API is down.
func (c *Committer) Close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
}

func (c *Committer) loop() {
	defer close(c.done)
	for {
		var first *call
		select {
		case first = <-c.reqs:
		case <-c.quit:
			return
		}
		batch := []*call{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case cl := <-c.reqs:
				batch = append(batch, cl)
			default:
				break fill
			}
		}
		c.run(batch)
	}
}

// failedCall marks which function of a batch failed so that it alone gets
// the error and the others are retried without it.
type failedCall struct {
	index int
	err   error
}

func (f *failedCall) Error() string { return fmt.Sprintf("batch call %d: %v", f.index, f.err) }

func (c *Committer) run(batch []*call) {
	for len(batch) > 0 {
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, cl := range batch {
				if err := cl.fn(tx); err != nil {
					return &failedCall{index: i, err: err}
				}
			}
			return nil
		})
		var fc *failedCall
		if !errors.As(err, &fc) {
			for _, cl := range batch {
				cl.err <- err
			}
			return
		}
		batch[fc.index].err <- fc.err
		batch = append(batch[:fc.index], batch[fc.index+1:]...)
	}
}
