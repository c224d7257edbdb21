package daemon

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-engine/berth/container/spec"
)

// initBinary is the host path of the init that containers run as PID 1
// (--init, or daemon.json "init"). It is looked up at each use, a handful
// of stats, so that installing tini needs no restart of berthd.
func (d *Daemon) initBinary() (string, error) {
	p, err := spec.LookupInit(d.Config().InitPath)
	if err != nil {
		return "", cerrdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
			"cannot run the container with an init (--init, or \"init\" in daemon.json): %v: "+
				"install Debian's tini package (it provides /usr/bin/tini-static) or set init-path "+
				"(flag --init-path or daemon.json \"init-path\") to a static init binary", err))
	}
	return p, nil
}

// initVersions caches, per init binary, the version /info reports: its
// `--version` runs once, not on every request.
type initVersions struct {
	mu     sync.Mutex
	byPath map[string]string
}

// get returns the init's commit (Docker's builds) or, for a build without
// one (Debian's), its version; "" when it cannot tell.
func (v *initVersions) get(path string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id, ok := v.byPath[path]; ok {
		return id
	}
	if v.byPath == nil {
		v.byPath = map[string]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var id string
	if out, err := exec.CommandContext(ctx, path, "--version").Output(); err == nil {
		if version, commit, err := spec.ParseInitVersion(string(out)); err == nil {
			id = commit
			if id == "" {
				id = version
			}
		}
	}
	v.byPath[path] = id
	return id
}

// initInfo is /info's InitBinary (init-path, else docker-init, as dockerd
// shows it) and InitCommit.
func (d *Daemon) initInfo() (string, system.Commit) {
	name := d.Config().InitPath
	if name == "" {
		name = spec.DefaultInitBinary
	}
	p, err := spec.LookupInit(d.Config().InitPath)
	if err != nil {
		return name, system.Commit{}
	}
	return name, system.Commit{ID: d.rt.initVersions.get(p)}
}
