// Package daemon holds the Daemon: the one struct that owns Berth's
// subsystems (volumes, images, events; containers and networks to come),
// composes them, and satisfies the API routers' backend interfaces.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/events"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/volume/local"
	"github.com/berth-engine/berth/volume/store"
)

// Daemon is berthd's state.
type Daemon struct {
	id      string
	log     *logrus.Logger
	events  *events.Events
	volumes *store.VolumeStore
	img     *imageService
	net     *network.Controller
	rt      *containerRuntime
	started time.Time

	mu  sync.RWMutex
	cfg config.Config
}

// New opens every subsystem under cfg.DataRoot. The caller holds the data
// root's lock.
func New(cfg config.Config, log *logrus.Logger) (*Daemon, error) {
	d := &Daemon{log: log, events: events.New(), cfg: cfg, started: time.Now()}
	if err := os.MkdirAll(cfg.DataRoot, 0o711); err != nil {
		return nil, fmt.Errorf("creating data root: %w", err)
	}
	id, err := loadOrCreateID(filepath.Join(cfg.DataRoot, "engine-id"))
	if err != nil {
		return nil, err
	}
	d.id = id

	volRoot := filepath.Join(cfg.DataRoot, "volumes")
	localDriver, fixed, err := local.New(volRoot)
	if err != nil {
		return nil, err
	}
	for _, f := range fixed {
		log.Warn("volumes: " + f)
	}
	d.volumes, err = store.New(store.Config{
		Root:       volRoot,
		MaxVolumes: cfg.MaxVolumes,
		Drivers:    []store.Driver{localDriver},
		Events: func(action, name string, attrs map[string]string) {
			d.events.Log(eventtypes.VolumeEventType, eventtypes.Action(action), name, attrs)
		},
		Log: log.WithField("subsystem", "volumes"),
	})
	if err != nil {
		return nil, err
	}
	used, _ := d.volumes.Quota()
	log.WithFields(logrus.Fields{"volumes": used, "max-volumes": cfg.MaxVolumes}).Info("volume store loaded")

	if d.img, err = openImageService(cfg.DataRoot, cfg.StorageDriver, log); err != nil {
		d.volumes.Close()
		return nil, err
	}
	log.WithFields(logrus.Fields{"storage-driver": d.img.driver.String(), "images": d.img.images.Len()}).Info("image store loaded")

	if d.net, err = openNetwork(cfg, log); err != nil {
		d.img.close(false)
		d.volumes.Close()
		return nil, err
	}
	if err := d.openContainers(); err != nil {
		d.net.Close()
		d.img.close(false)
		d.volumes.Close()
		return nil, err
	}
	d.restoreContainers(context.Background())
	return d, nil
}

// Close stops the containers (unless live-restore keeps them running) and
// closes every subsystem. The API server must be stopped first.
func (d *Daemon) Close() error {
	d.shutdownContainers()
	return errors.Join(d.rt.store.Close(), d.net.Close(), d.img.close(d.Config().LiveRestore && d.rt.running() > 0), d.volumes.Close())
}

// Config returns the configuration in force.
func (d *Daemon) Config() config.Config {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg
}

// Reload applies the live-reloadable settings of cfg (max-volumes,
// log-level/debug, labels, insecure-registries, registry-mirrors; the
// registry settings are read by every pull, push and login, so they apply
// to the next one), logging old and new values, and publishes a
// daemon reload event. Other settings need a restart; their changes are
// logged and ignored.
func (d *Daemon) Reload(cfg config.Config) {
	d.mu.Lock()
	old := d.cfg
	d.cfg.MaxVolumes = cfg.MaxVolumes
	d.cfg.LogLevel = cfg.LogLevel
	d.cfg.Debug = cfg.Debug
	d.cfg.Labels = cfg.Labels
	d.cfg.LiveRestore = cfg.LiveRestore
	d.cfg.InsecureRegistries = cfg.InsecureRegistries
	d.cfg.RegistryMirrors = cfg.RegistryMirrors
	d.mu.Unlock()

	if old.MaxVolumes != cfg.MaxVolumes {
		d.volumes.SetMaxVolumes(cfg.MaxVolumes)
	}
	d.log.WithFields(logrus.Fields{
		"max-volumes":         fmt.Sprintf("%d -> %d", old.MaxVolumes, cfg.MaxVolumes),
		"log-level":           fmt.Sprintf("%s -> %s", levelOf(old), levelOf(cfg)),
		"insecure-registries": fmt.Sprintf("%s -> %s", jsonList(old.InsecureRegistries), jsonList(cfg.InsecureRegistries)),
		"registry-mirrors":    fmt.Sprintf("%s -> %s", jsonList(old.RegistryMirrors), jsonList(cfg.RegistryMirrors)),
	}).Info("configuration reloaded")
	d.events.Log(eventtypes.DaemonEventType, eventtypes.ActionReload, d.id, map[string]string{
		"max-volumes":         fmt.Sprint(cfg.MaxVolumes),
		"log-level":           levelOf(cfg),
		"insecure-registries": jsonList(cfg.InsecureRegistries),
		"registry-mirrors":    jsonList(cfg.RegistryMirrors),
	})
}

// jsonList is a list setting as Docker's reload event shows it: a JSON
// array, [] when empty.
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func levelOf(c config.Config) string {
	if c.Debug {
		return "debug"
	}
	if c.LogLevel == "" {
		return "info"
	}
	return c.LogLevel
}

// loadOrCreateID returns the engine's persistent ID, creating it on first
// start (a random UUID-shaped string).
func loadOrCreateID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading engine id: %w", err)
	}
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	h := hex.EncodeToString(r)
	id := fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing engine id: %w", err)
	}
	return id, nil
}
