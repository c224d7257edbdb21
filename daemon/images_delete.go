package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/image"
)

// ImageTag answers POST /images/{name}/tag: repo[:tag] now names the image.
func (d *Daemon) ImageTag(_ context.Context, name, repo, tag string) error {
	img, err := d.resolveImage(name)
	if err != nil {
		return err
	}
	ref, err := distref.ParseNormalizedNamed(repo)
	if err != nil {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", repo))
	}
	if _, isCanonical := ref.(distref.Canonical); isCanonical {
		return cerrdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if ref, err = distref.WithTag(distref.TrimNamed(ref), tag); err != nil {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %s", tag))
		}
	}
	ref = distref.TagNameOnly(ref)
	if err := d.img.refs.AddTag(ref, img.ID, true); err != nil {
		return err
	}
	if err := d.img.images.SetLastUpdated(img.ID, time.Now()); err != nil {
		return err
	}
	d.logImageEvent(img.ID, distref.FamiliarString(ref), eventtypes.ActionTag)
	return nil
}

// ImageDelete answers DELETE /images/{name} with Docker's rules: a reference
// is untagged, and the image goes with its last reference; an ID deletes
// the image, untagging it first, but an image referenced from several
// repositories needs force; an image with child images is never deleted.
// With prune, parents left untagged and childless go too.
func (d *Daemon) ImageDelete(_ context.Context, name string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	img, err := d.resolveImage(name)
	if err != nil {
		return nil, err
	}
	records := []imagetypes.DeleteResponse{}
	refs := d.img.refs.References(img.ID)
	user, userRunning := d.imageUser(img.ID)

	if !isIDPrefix(img.ID, name) {
		ref, err := distref.ParseNormalizedNamed(name)
		if err != nil {
			return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", name))
		}
		ref = distref.TagNameOnly(ref)
		if user != nil && !force && len(refs) == 1 {
			return nil, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", name, container.ShortID(user.ID), shortID(img.ID.Digest())))
		}
		if _, err := d.img.refs.Delete(ref); err != nil {
			return nil, err
		}
		records = append(records, imagetypes.DeleteResponse{Untagged: distref.FamiliarString(ref)})
		d.logImageEvent(img.ID, distref.FamiliarString(ref), eventtypes.ActionUnTag)
		// With the repository's last tag gone, its digest references
		// (recorded by pull and push) go too, as in Docker.
		if _, isCanonical := ref.(distref.Canonical); !isCanonical {
			untagged, err := d.untagDigestsWithoutTag(img.ID, ref.Name())
			records = append(records, untagged...)
			if err != nil {
				return records, err
			}
		}
		if len(d.img.refs.References(img.ID)) > 0 || userRunning || (user != nil && !force) {
			return records, nil
		}
		// The last reference is gone: delete the image, unless it has
		// children, in which case untagging was all there was to do.
		if len(d.img.images.Children(img.ID)) > 0 {
			return records, nil
		}
	} else {
		if len(refs) > 1 && !force && !singleRepository(refs) {
			return nil, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(img.ID.Digest())))
		}
		if len(d.img.images.Children(img.ID)) > 0 {
			return nil, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (cannot be forced) - image has dependent child images", shortID(img.ID.Digest())))
		}
		if userRunning {
			return nil, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(img.ID.Digest()), container.ShortID(user.ID)))
		}
		if user != nil && !force {
			return nil, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(img.ID.Digest()), container.ShortID(user.ID)))
		}
		for _, ref := range refs {
			if _, err := d.img.refs.Delete(ref); err != nil {
				return nil, err
			}
			records = append(records, imagetypes.DeleteResponse{Untagged: distref.FamiliarString(ref)})
			d.logImageEvent(img.ID, distref.FamiliarString(ref), eventtypes.ActionUnTag)
		}
	}
	deleted, _, err := d.deleteImage(img, prune)
	return append(records, deleted...), err
}

// untagDigestsWithoutTag removes the digest references of repository repo
// to the image when no tag of that repository is left on it.
func (d *Daemon) untagDigestsWithoutTag(id image.ID, repo string) ([]imagetypes.DeleteResponse, error) {
	refs := d.img.refs.References(id)
	for _, r := range refs {
		if _, isCanonical := r.(distref.Canonical); !isCanonical && r.Name() == repo {
			return nil, nil // a tag of the repository remains
		}
	}
	var records []imagetypes.DeleteResponse
	for _, r := range refs {
		if _, isCanonical := r.(distref.Canonical); !isCanonical || r.Name() != repo {
			continue
		}
		if _, err := d.img.refs.Delete(r); err != nil {
			return records, err
		}
		records = append(records, imagetypes.DeleteResponse{Untagged: distref.FamiliarString(r)})
		d.logImageEvent(id, distref.FamiliarString(r), eventtypes.ActionUnTag)
	}
	return records, nil
}

// deleteImage removes an untagged, childless image, and with prune its
// parents that are left untagged and childless. It returns the records and
// the bytes freed.
func (d *Daemon) deleteImage(img *image.Image, prune bool) ([]imagetypes.DeleteResponse, uint64, error) {
	var records []imagetypes.DeleteResponse
	var freed uint64
	for img != nil {
		parent := img.Parent
		removed, err := d.img.images.Delete(img.ID)
		if err != nil {
			return records, freed, err
		}
		records = append(records, imagetypes.DeleteResponse{Deleted: img.ID.String()})
		d.logImageEvent(img.ID, "", eventtypes.ActionDelete)
		for _, l := range removed {
			records = append(records, imagetypes.DeleteResponse{Deleted: l.ChainID.String()})
			freed += uint64(l.DiffSize)
		}
		if !prune || parent == "" {
			break
		}
		next, err := d.img.images.Get(parent)
		if err != nil || len(d.img.refs.References(parent)) > 0 || len(d.img.images.Children(parent)) > 0 {
			break
		}
		if user, _ := d.imageUser(parent); user != nil {
			break
		}
		img = next
	}
	return records, freed, nil
}

// isIDPrefix reports whether name names id by ID rather than by reference.
func isIDPrefix(id image.ID, name string) bool {
	n := trimSHA(name)
	return len(n) > 0 && strings.HasPrefix(id.Digest().Encoded(), n)
}

// singleRepository reports whether refs are all in one repository with at
// most one tag, which Docker lets `rmi <id>` remove without force.
func singleRepository(refs []distref.Named) bool {
	tags := 0
	for _, r := range refs {
		if r.Name() != refs[0].Name() {
			return false
		}
		if _, ok := r.(distref.NamedTagged); ok {
			tags++
		}
	}
	return tags <= 1
}

// ImagesPrune answers POST /images/prune: dangling images (no tag, no
// child), or with dangling=false every image, filtered by until and label.
func (d *Daemon) ImagesPrune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error) {
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return nil, err
	}
	danglingOnly, err := f.Bool("dangling", true)
	if err != nil {
		return nil, err
	}
	until, err := untilFilter(f)
	if err != nil {
		return nil, err
	}
	rep := &imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	for _, img := range d.img.images.List() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if len(d.img.images.Children(img.ID)) > 0 {
			continue // pruned, if at all, as the parent of a pruned child
		}
		if (!until.IsZero() && createdOf(img).After(until)) || !f.MatchKVList("label", img.Config.Labels) || matchesAnyLabel(f.Get("label!"), img.Config.Labels) {
			continue
		}
		refs := d.img.refs.References(img.ID)
		if danglingOnly && hasTag(refs) {
			continue
		}
		if user, _ := d.imageUser(img.ID); user != nil {
			continue // in use by a container, as Docker keeps it
		}
		for _, ref := range refs {
			if _, err := d.img.refs.Delete(ref); err != nil {
				return rep, err
			}
			rep.ImagesDeleted = append(rep.ImagesDeleted, imagetypes.DeleteResponse{Untagged: distref.FamiliarString(ref)})
			d.logImageEvent(img.ID, distref.FamiliarString(ref), eventtypes.ActionUnTag)
		}
		deleted, freed, err := d.deleteImage(img, true)
		rep.ImagesDeleted = append(rep.ImagesDeleted, deleted...)
		rep.SpaceReclaimed += freed
		if err != nil && !errors.Is(err, context.Canceled) {
			return rep, err
		}
	}
	if len(rep.ImagesDeleted) > 0 {
		d.events.Log(eventtypes.ImageEventType, eventtypes.ActionPrune, "", map[string]string{"reclaimed": fmt.Sprint(rep.SpaceReclaimed)})
	}
	return rep, nil
}

func hasTag(refs []distref.Named) bool {
	for _, r := range refs {
		if _, ok := r.(distref.NamedTagged); ok {
			return true
		}
	}
	return false
}

// imageUser returns a container created from image id, a running one if
// any, and whether it runs; nil if no container uses the image.
func (d *Daemon) imageUser(id image.ID) (*container.Container, bool) {
	var found *container.Container
	for _, c := range d.rt.store.List() {
		if c.ImageID != id.String() {
			continue
		}
		c.Lock()
		running := c.State.Running || c.State.Restarting
		c.Unlock()
		if running {
			return c, true
		}
		if found == nil {
			found = c
		}
	}
	return found, false
}
