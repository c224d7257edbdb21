package vfs_test

import (
	"testing"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/graphtest"
	"github.com/berth-engine/berth/graphdriver/vfs"
)

func newDriver(root string) (graphdriver.Driver, error) { return vfs.New(root) }

func TestSuite(t *testing.T) { graphtest.Run(t, newDriver) }

func TestApplyDiffVsTarX(t *testing.T) {
	graphtest.CompareWithTarX(t, newDriver, 200<<20, 1.5, 3)
}

func BenchmarkApplyDiff(b *testing.B) { graphtest.BenchApplyDiff(b, newDriver, 50<<20) }
