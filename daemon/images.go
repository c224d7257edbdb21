package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/register"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/distribution"
	"github.com/berth-engine/berth/image/layer"
	refstore "github.com/berth-engine/berth/image/reference"
)

// imageService is the image subsystem the Daemon owns: the graph driver,
// and the layer, image and reference stores on it. Each driver's stores live
// apart (<data-root>/image/<driver>), since layer cache IDs belong to one
// driver.
type imageService struct {
	// root holds this driver's stores: <data-root>/image/<driver>.
	root   string
	driver graphdriver.Driver
	layers *layer.Store
	images *image.Store
	refs   *refstore.Store
	// gzipCommand inflates pulled gzip layers (igzip), found at start; ""
	// inflates them in process.
	gzipCommand string
}

func openImageService(dataRoot, driverName string, log *logrus.Logger) (*imageService, error) {
	entry := log.WithField("subsystem", "images")
	driver, err := register.New(driverName, dataRoot, entry)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dataRoot, "image", driver.String())
	s := &imageService{root: root, driver: driver, gzipCommand: distribution.FindGzipCommand(os.Getenv, entry)}
	if s.layers, err = layer.New(root, driver, entry); err != nil {
		s.close(false)
		return nil, err
	}
	if s.images, err = image.NewStore(root, s.layers, entry); err != nil {
		s.close(false)
		return nil, err
	}
	// Layers nobody holds now are leftovers of interrupted loads or pulls.
	if removed, err := s.layers.GC(); err != nil {
		entry.WithError(err).Warn("collecting unreferenced layers")
	} else if len(removed) > 0 {
		entry.WithField("layers", len(removed)).Info("removed layers no image references")
	}
	if s.refs, err = refstore.NewStore(root, entry); err != nil {
		s.close(false)
		return nil, err
	}
	return s, nil
}

// close closes the stores and releases the driver's mounts, except with
// keepMounts: then the layers of containers left running (live-restore)
// stay mounted, to be adopted by the next berthd. Unmounting them would
// leave the running containers on an overlay whose work directory the next
// mount reuses, which breaks their filesystem.
func (s *imageService) close(keepMounts bool) error {
	var errs []error
	if s.refs != nil {
		errs = append(errs, s.refs.Close())
	}
	if s.images != nil {
		errs = append(errs, s.images.Close())
	}
	if s.layers != nil {
		errs = append(errs, s.layers.Close())
	}
	if s.driver != nil && !keepMounts {
		errs = append(errs, s.driver.Cleanup())
	}
	return errors.Join(errs...)
}

// errNoSuchImage is Docker's not-found error for an image reference.
func errNoSuchImage(name string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such image: " + name)
}

// resolveImage finds the image a user named: a full or short ID, or a
// reference (name, name:tag, name@digest), as Docker does.
func (d *Daemon) resolveImage(refOrID string) (*image.Image, error) {
	id, err := d.resolveImageID(refOrID)
	if err != nil {
		return nil, err
	}
	img, err := d.img.images.Get(id)
	if err != nil {
		return nil, errNoSuchImage(refOrID)
	}
	return img, nil
}

func (d *Daemon) resolveImageID(refOrID string) (image.ID, error) {
	if refOrID == "" {
		return "", cerrdefs.ErrInvalidArgument.WithMessage("image name cannot be blank")
	}
	parsed, err := distref.ParseAnyReference(refOrID)
	if err != nil {
		// Not a reference: maybe a short ID such as "7dcaac"; Search
		// says whether it is.
		if id, serr := d.img.images.Search(refOrID); serr == nil {
			return id, nil
		}
		return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", refOrID))
	}
	named, ok := parsed.(distref.Named)
	if !ok {
		// A bare digest: an image ID.
		dg, _ := parsed.(distref.Digested)
		if dg != nil {
			if _, err := d.img.images.Get(image.IDFromDigest(dg.Digest())); err == nil {
				return image.IDFromDigest(dg.Digest()), nil
			}
		}
		return "", errNoSuchImage(refOrID)
	}
	if id, err := d.img.refs.Get(named); err == nil {
		return id, nil
	}
	if _, isCanonical := named.(distref.Canonical); !isCanonical {
		if id, err := d.img.images.Search(refOrID); err == nil {
			return id, nil
		}
	}
	return "", errNoSuchImage(familiarTagged(named))
}

// familiarTagged is how Docker names a reference in messages: busybox:latest.
func familiarTagged(ref distref.Named) string {
	return distref.FamiliarString(distref.TagNameOnly(ref))
}

// imageRefs splits an image's references into familiar tags and digests.
func (d *Daemon) imageRefs(id image.ID) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, ref := range d.img.refs.References(id) {
		switch ref.(type) {
		case distref.Canonical:
			digests = append(digests, distref.FamiliarString(ref))
		case distref.NamedTagged:
			tags = append(tags, distref.FamiliarString(ref))
		}
	}
	return tags, digests
}

// logImageEvent publishes an image event; name is the reference involved.
func (d *Daemon) logImageEvent(id image.ID, name string, action eventtypes.Action) {
	attrs := map[string]string{}
	if name != "" {
		attrs["name"] = name
	}
	d.events.Log(eventtypes.ImageEventType, action, id.String(), attrs)
}

// shortID is the 12-digit form Docker prints.
func shortID(d digest.Digest) string {
	h := d.Encoded()
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// trimSHA accepts "sha256:abc" and "abc" alike.
func trimSHA(s string) string { return strings.TrimPrefix(s, "sha256:") }
