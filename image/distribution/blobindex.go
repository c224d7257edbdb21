package distribution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
)

// BlobIndex remembers which registry blobs hold which layers: for a diff ID,
// the compressed blobs seen for it (pulled or pushed) and where. A push
// uses it to skip a layer the repository has (HEAD), or to mount it from
// another repository of the registry, instead of compressing and uploading
// it again; Docker keeps the same "v2 metadata".
//
// It is a cache: a lost or stale entry only costs an upload. Each diff ID
// is one small JSON file, <dir>/<algorithm>/<hex>.json, replaced
// atomically; nothing is held open, so any number of BlobIndex values may
// share a directory.
type BlobIndex struct{ dir string }

// BlobInfo is one blob known to hold a layer.
type BlobInfo struct {
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType"`
	Size       int64         `json:"size"`
	Registry   string        `json:"registry"`   // as references name it: docker.io, 127.0.0.1:5000
	Repository string        `json:"repository"` // path in the registry: library/busybox
}

// maxBlobInfos bounds the entries kept per diff ID (the most recent).
const maxBlobInfos = 32

// blobIndexMu serializes the read-modify-write of entries in this process.
var blobIndexMu sync.Mutex

// NewBlobIndex returns the index kept in dir (created when first written).
func NewBlobIndex(dir string) *BlobIndex { return &BlobIndex{dir: dir} }

func (x *BlobIndex) path(diffID digest.Digest) string {
	return filepath.Join(x.dir, diffID.Algorithm().String(), diffID.Encoded()+".json")
}

// Get returns the blobs known for a diff ID, most recent first.
func (x *BlobIndex) Get(diffID digest.Digest) []BlobInfo {
	if x == nil || diffID.Validate() != nil {
		return nil
	}
	b, err := os.ReadFile(x.path(diffID))
	if err != nil {
		return nil
	}
	var infos []BlobInfo
	if json.Unmarshal(b, &infos) != nil {
		return nil
	}
	out := infos[:0]
	for _, in := range infos {
		if in.Digest.Validate() == nil {
			out = append(out, in)
		}
	}
	return out
}

// Add records blobs for a diff ID, most recent first.
func (x *BlobIndex) Add(diffID digest.Digest, infos ...BlobInfo) error {
	if x == nil || len(infos) == 0 {
		return nil
	}
	if err := diffID.Validate(); err != nil {
		return err
	}
	blobIndexMu.Lock()
	defer blobIndexMu.Unlock()
	merged := append([]BlobInfo{}, infos...)
	for _, old := range x.Get(diffID) {
		dup := false
		for _, in := range infos {
			if in.Digest == old.Digest && in.Registry == old.Registry && in.Repository == old.Repository {
				dup = true
				break
			}
		}
		if !dup {
			merged = append(merged, old)
		}
	}
	if len(merged) > maxBlobInfos {
		merged = merged[:maxBlobInfos]
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	p := x.path(diffID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
