package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/berth-engine/berth/volume/local"
	"github.com/berth-engine/berth/volume/store"
)

// A store with a quota of one volume refuses the second create, and a
// re-create of the first name returns the existing volume.
func Example() {
	root, _ := os.MkdirTemp("", "volumes")
	defer os.RemoveAll(root)
	drv, _, _ := local.New(root)
	s, err := store.New(store.Config{Root: root, MaxVolumes: 1, Drivers: []store.Driver{drv}})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ctx := context.Background()

	v, _ := s.Create(ctx, store.CreateOptions{Name: "data"})
	fmt.Println("created", v.Name)
	_, err = s.Create(ctx, store.CreateOptions{Name: "more"})
	fmt.Println(errors.Is(err, store.ErrQuotaExceeded), err)
	v, err = s.Create(ctx, store.CreateOptions{Name: "data"})
	fmt.Println("again", v.Name, err)
	// Output:
	// created data
	// true volume quota exceeded: 1 of 1 volumes in use (max-volumes=1); remove unused volumes with 'docker volume prune'
	// again data <nil>
}
