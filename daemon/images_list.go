package daemon

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"

	imagerouter "github.com/berth-engine/berth/api/server/router/image"
	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/image"
)

// Images answers GET /images/json. Without all, intermediate images (those
// with children and no tag) are hidden, as in Docker.
func (d *Daemon) Images(_ context.Context, opts imagerouter.ListOptions) ([]imagetypes.Summary, error) {
	f := opts.Filters
	if err := f.Validate("dangling", "label", "label!", "reference", "before", "since", "until"); err != nil {
		return nil, err
	}
	dangling, err := f.Bool("dangling", false)
	if err != nil {
		return nil, err
	}
	var before, since *image.Image
	for key, dst := range map[string]**image.Image{"before": &before, "since": &since} {
		for _, v := range f.Get(key) {
			img, err := d.resolveImage(v)
			if err != nil {
				return nil, err
			}
			*dst = img
		}
	}
	until, err := untilFilter(f)
	if err != nil {
		return nil, err
	}

	out := []imagetypes.Summary{}
	for _, img := range d.img.images.List() {
		tags, digests := d.imageRefs(img.ID)
		untagged := len(tags) == 0 && len(digests) == 0
		if f.Has("dangling") && dangling != untagged {
			continue
		}
		if !opts.All && untagged && len(d.img.images.Children(img.ID)) > 0 {
			continue
		}
		created := createdOf(img)
		if (before != nil && !created.Before(createdOf(before))) || (since != nil && !created.After(createdOf(since))) {
			continue
		}
		if !until.IsZero() && created.After(until) {
			continue
		}
		labels := img.Config.Labels
		if !f.MatchKVList("label", labels) || matchesAnyLabel(f.Get("label!"), labels) {
			continue
		}
		if f.Has("reference") {
			tags, digests = matchingRefs(f.Get("reference"), tags), matchingRefs(f.Get("reference"), digests)
			if len(tags) == 0 && len(digests) == 0 {
				continue
			}
		}
		out = append(out, imagetypes.Summary{
			ID:          img.ID.String(),
			ParentID:    img.Parent.String(),
			RepoTags:    tags,
			RepoDigests: digests,
			Created:     created.Unix(),
			Size:        img.Size,
			SharedSize:  -1,
			Containers:  -1,
			Labels:      labels,
		})
	}
	slices.SortStableFunc(out, func(a, b imagetypes.Summary) int { return int(b.Created - a.Created) })
	return out, nil
}

// matchingRefs keeps the references that match a `reference` filter
// pattern (shell globs over the familiar name, with or without the tag).
func matchingRefs(patterns, refs []string) []string {
	var kept []string
	for _, r := range refs {
		ref, err := distref.ParseNormalizedNamed(r)
		if err != nil {
			continue
		}
		for _, p := range patterns {
			if ok, _ := distref.FamiliarMatch(p, ref); ok {
				kept = append(kept, r)
				break
			}
			if ok, _ := path.Match(p, distref.FamiliarName(ref)); ok {
				kept = append(kept, r)
				break
			}
		}
	}
	return kept
}

func matchesAnyLabel(specs []string, labels map[string]string) bool {
	for _, l := range specs {
		if (filters.Args{"l": {l: true}}).MatchKVList("l", labels) {
			return true
		}
	}
	return false
}

// untilFilter reads `until`: a Unix timestamp or a Go duration before now.
func untilFilter(f filters.Args) (time.Time, error) {
	vs := f.Get("until")
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	if dur, err := time.ParseDuration(vs[0]); err == nil {
		return time.Now().Add(-dur), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, vs[0]); err == nil {
		return t, nil
	}
	var sec int64
	if _, err := fmt.Sscanf(vs[0], "%d", &sec); err == nil {
		return time.Unix(sec, 0), nil
	}
	return time.Time{}, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'until=%s': want a timestamp or a duration", vs[0]))
}

func createdOf(img *image.Image) time.Time {
	if img.Created == nil {
		return time.Time{}
	}
	return *img.Created
}

// ImageInspect answers GET /images/{name}/json.
func (d *Daemon) ImageInspect(_ context.Context, name string) (*imagetypes.InspectResponse, error) {
	img, err := d.resolveImage(name)
	if err != nil {
		return nil, err
	}
	tags, digests := d.imageRefs(img.ID)
	layers := make([]string, 0, len(img.RootFS.DiffIDs))
	for _, id := range img.RootFS.DiffIDs {
		layers = append(layers, id.String())
	}
	cfg := img.Config
	resp := &imagetypes.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     tags,
		RepoDigests:  digests,
		Comment:      img.Comment,
		Author:       img.Author,
		Config:       &cfg,
		Architecture: img.Architecture,
		Variant:      img.Variant,
		Os:           img.OS,
		OsVersion:    img.OSVersion,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: d.img.driver.String(), Data: map[string]string{}},
		RootFS:       imagetypes.RootFS{Type: "layers", Layers: layers},
	}
	if img.Created != nil {
		resp.Created = img.Created.Format(time.RFC3339Nano)
	}
	if !img.LastUpdated.IsZero() {
		resp.Metadata.LastTagTime = img.LastUpdated
	}
	return resp, nil
}

// ImageHistory answers GET /images/{name}/history: the config's history,
// newest first, with each layer-creating step's size. Steps of local parent
// images carry those images' IDs and tags; the rest are "<missing>".
func (d *Daemon) ImageHistory(_ context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	img, err := d.resolveImage(name)
	if err != nil {
		return nil, err
	}
	sizes := d.layerSizes(img)
	var items []imagetypes.HistoryResponseItem
	layerIdx := 0
	for _, h := range img.History {
		var size int64
		if !h.EmptyLayer {
			if layerIdx < len(sizes) {
				size = sizes[layerIdx]
			}
			layerIdx++
		}
		var created int64
		if h.Created != nil {
			created = h.Created.Unix()
		}
		items = append(items, imagetypes.HistoryResponseItem{
			ID:        "<missing>",
			Created:   created,
			CreatedBy: h.CreatedBy,
			Comment:   h.Comment,
			Size:      size,
			Tags:      nil,
		})
	}
	slices.Reverse(items)
	// Label the rows that local images (this one and its parents) end at.
	cur := img
	for i := range items {
		if cur == nil {
			break
		}
		// A local image ends at the newest step of its own history.
		if len(cur.History) == len(img.History)-i {
			tags, _ := d.imageRefs(cur.ID)
			items[i].ID, items[i].Tags = cur.ID.String(), tags
			cur, _ = d.img.images.Get(cur.Parent)
		}
	}
	if len(items) == 0 {
		tags, _ := d.imageRefs(img.ID)
		items = append(items, imagetypes.HistoryResponseItem{ID: img.ID.String(), Created: createdOf(img).Unix(), Size: img.Size, Tags: tags})
	}
	return items, nil
}

// layerSizes returns each of img's layers' own sizes, bottom first.
func (d *Daemon) layerSizes(img *image.Image) []int64 {
	var sizes []int64
	if img.ChainID == "" {
		return nil
	}
	l, err := d.img.layers.Get(img.ChainID)
	if err != nil {
		return nil
	}
	defer d.img.layers.Release(l)
	for cur := l; cur != nil; cur = cur.Parent() {
		sizes = append(sizes, cur.DiffSize())
	}
	slices.Reverse(sizes)
	return sizes
}
