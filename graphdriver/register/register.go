// Package register chooses and starts a graph driver by name. It lives
// apart from package graphdriver because it imports every driver, and the
// drivers import graphdriver.
package register

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/overlay2"
	"github.com/berth-engine/berth/graphdriver/vfs"
)

type constructor func(root string) (graphdriver.Driver, error)

// drivers maps each name to its constructor; built per call, no globals.
func drivers() map[string]constructor {
	return map[string]constructor{
		overlay2.Name: func(root string) (graphdriver.Driver, error) { return overlay2.New(root) },
		vfs.Name:      func(root string) (graphdriver.Driver, error) { return vfs.New(root) },
	}
}

// Names lists the drivers New knows, in the order the default is chosen.
func Names() []string { return []string{overlay2.Name, vfs.Name} }

// New starts the graph driver called name with its layers in
// <root>/<name> (root is the storage root, e.g. /var/lib/berth, as
// Docker's /var/lib/docker holds overlay2/ and vfs/).
//
// An empty name picks the default. If exactly one driver already holds
// layers under root, that one (switching would hide those layers); if
// several do, an error asking for an explicit choice. Otherwise the first
// of Names() that works here: overlay2 where Supported, else vfs. The
// choice and the reasons for skipping a driver are logged.
func New(name, root string, log *logrus.Entry) (graphdriver.Driver, error) {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	ctors := drivers()
	if name != "" {
		ctor, ok := ctors[name]
		if !ok {
			return nil, fmt.Errorf("storage driver %q: %w (known: %s)", name, graphdriver.ErrNotSupported, strings.Join(Names(), ", "))
		}
		d, err := ctor(filepath.Join(root, name))
		if err != nil {
			return nil, fmt.Errorf("storage driver %q: %w", name, err)
		}
		log.WithField("storage-driver", name).Info("storage driver chosen by configuration")
		return d, nil
	}

	var prior []string
	for _, n := range Names() {
		if hasLayers(n, filepath.Join(root, n)) {
			prior = append(prior, n)
		}
	}
	switch len(prior) {
	case 1:
		d, err := ctors[prior[0]](filepath.Join(root, prior[0]))
		if err != nil {
			return nil, fmt.Errorf("storage driver %q (holds the layers under %s): %w", prior[0], root, err)
		}
		log.WithField("storage-driver", prior[0]).Info("storage driver chosen because it holds the existing layers")
		return d, nil
	case 0:
	default:
		return nil, fmt.Errorf("layers of several storage drivers (%s) are under %s: choose one explicitly (--storage-driver)", strings.Join(prior, ", "), root)
	}

	var errs []error
	for _, n := range Names() {
		d, err := ctors[n](filepath.Join(root, n))
		if err == nil {
			log.WithField("storage-driver", n).Info("storage driver chosen by default")
			return d, nil
		}
		if !errors.Is(err, graphdriver.ErrNotSupported) {
			return nil, fmt.Errorf("storage driver %q: %w", n, err)
		}
		log.WithField("storage-driver", n).WithError(err).Info("storage driver not usable here, trying the next")
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no storage driver works here: %w", errors.Join(errs...))
}

// hasLayers reports whether driver name has layers in dir; each driver
// knows its own layout.
func hasLayers(name, dir string) bool {
	switch name {
	case overlay2.Name:
		return overlay2.HasLayers(dir)
	case vfs.Name:
		return vfs.HasLayers(dir)
	}
	return false
}
