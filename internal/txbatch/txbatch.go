// Package txbatch groups concurrent bbolt write transactions into one commit.
//
// Every write that returns must be durable, and each bbolt commit costs two
// fdatasyncs. Committing writers one by one caps throughput at the disk's sync
// rate; bolt's own DB.Batch fixes that but makes a lone writer wait out
// MaxBatchDelay, and hands every write to another goroutine.
//
// A Committer uses leader/follower group commit instead: a caller that finds
// no commit in progress runs the transaction itself, at once, on its own
// goroutine (no hand-off, no delay). Callers that arrive while a commit is
// syncing queue up; when it ends, the first of them is promoted to leader and
// commits the whole queue in one transaction. A lone writer pays one commit,
// N parallel writers share one.
package txbatch

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("txbatch: committer is closed")

// maxBatch bounds the work done in one transaction so that a burst cannot
// build one huge commit that delays everybody in it.
const maxBatch = 256

// Committer serializes and batches write transactions on one bolt.DB.
type Committer struct {
	db *bolt.DB

	mu       sync.Mutex
	leading  bool    // a leader is committing now
	queue    []*call // followers waiting for the next commit
	closed   bool
	inflight sync.WaitGroup
}

type call struct {
	fn  func(*bolt.Tx) error
	res chan result
}

// result tells a waiting caller its outcome, or that it now leads.
type result struct {
	err  error
	lead bool
}

// New returns a Committer for db.
func New(db *bolt.DB) *Committer { return &Committer{db: db} }

// Update runs fn in a read-write transaction, possibly together with other
// callers' functions, and returns once the transaction is committed (or with
// fn's own error). fn may run more than once: it must only touch the
// transaction.
func (c *Committer) Update(fn func(*bolt.Tx) error) error {
	me := &call{fn: fn, res: make(chan result, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.inflight.Add(1)
	defer c.inflight.Done()
	if c.leading {
		c.queue = append(c.queue, me)
		c.mu.Unlock()
		r := <-me.res
		if !r.lead {
			return r.err
		}
		c.mu.Lock()
	}
	c.leading = true
	batch := []*call{me}
	n := min(len(c.queue), maxBatch-1)
	batch = append(batch, c.queue[:n]...)
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.run(batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		next.res <- result{lead: true}
	} else {
		c.leading = false
		c.mu.Unlock()
	}
	return (<-me.res).err
}

// Close refuses new updates and waits for those in flight.
func (c *Committer) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.inflight.Wait()
}

// failedCall marks which function of a batch failed so that it alone gets
// the error and the others are retried without it.
type failedCall struct {
	index int
	err   error
}

func (f *failedCall) Error() string { return fmt.Sprintf("batch call %d: %v", f.index, f.err) }

// run commits batch, delivering each call's result on its channel.
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
				cl.res <- result{err: err}
			}
			return
		}
		batch[fc.index].res <- result{err: fc.err}
		batch = append(batch[:fc.index], batch[fc.index+1:]...)
	}
}
