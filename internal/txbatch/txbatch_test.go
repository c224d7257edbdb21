package txbatch

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openDB(t testing.TB) *bolt.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConcurrentUpdatesAllCommitted(t *testing.T) {
	db := openDB(t)
	c := New(db)
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := c.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				return b.Put([]byte(fmt.Sprint(i)), []byte("x"))
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 200 {
			t.Errorf("keys = %d, want 200", n)
		}
		return nil
	})
}

func TestFailingCallDoesNotSpoilOthers(t *testing.T) {
	db := openDB(t)
	c := New(db)
	defer c.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				if err := b.Put([]byte(fmt.Sprint(i)), nil); err != nil {
					return err
				}
				if i%7 == 0 {
					return boom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		if i%7 == 0 {
			if !errors.Is(err, boom) {
				t.Errorf("call %d: err = %v, want boom", i, err)
			}
			continue
		}
		want++
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != want {
			t.Errorf("keys = %d, want %d (failed calls must leave nothing)", n, want)
		}
		return nil
	})
}

func TestUpdateAfterClose(t *testing.T) {
	c := New(openDB(t))
	c.Close()
	if err := c.Update(func(*bolt.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// TestBatchesShareCommits checks that parallel writers are grouped: far
// fewer transactions than writers.
func TestBatchesShareCommits(t *testing.T) {
	db := openDB(t)
	c := New(db)
	defer c.Close()
	st := db.Stats()
	before := st.TxStats.GetWrite()
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				c.Update(func(tx *bolt.Tx) error {
					b, _ := tx.CreateBucketIfNotExists([]byte("b"))
					return b.Put([]byte(fmt.Sprint(i, "-", j)), nil)
				})
			}
		}(i)
	}
	wg.Wait()
	st = db.Stats()
	txs := st.TxStats.GetWrite() - before
	if txs >= 640 {
		t.Fatalf("%d write transactions for 640 updates: nothing was batched", txs)
	}
	t.Logf("640 updates in %d transactions", txs)
}
