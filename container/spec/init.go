package spec

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultInitBinary is dockerd's name for the init it runs with --init
// (tini); it is looked up as dockerd does when init-path is unset.
const DefaultInitBinary = "docker-init"

// FallbackInitBinary is Debian's static tini (package tini), used when no
// docker-init is installed. It must be static: it is bind-mounted into
// images that may have no C library.
const FallbackInitBinary = "tini-static"

// InContainerInitPath is where the init is bind-mounted in the container,
// as in Docker.
const InContainerInitPath = "/sbin/" + DefaultInitBinary

// initLibexecDirs are the directories dockerd searches for docker-init
// before PATH (FHS 3.0 libexec, then FHS 2.2 lib).
var initLibexecDirs = []string{"/usr/local/libexec/docker", "/usr/libexec/docker", "/usr/local/lib/docker", "/usr/lib/docker"}

// WantsInit reports whether a container runs an init as its PID 1:
// HostConfig.Init when set, else the daemon's default (daemon.json "init").
// As in Docker, only a container with a PID namespace of its own gets one:
// in the host's or another container's, the init would not be PID 1.
func WantsInit(hc *container.HostConfig, daemonDefault bool) bool {
	if !ownPIDNamespace(hc) {
		return false
	}
	if hc.Init != nil {
		return *hc.Init
	}
	return daemonDefault
}

// ownPIDNamespace reports whether the container has a PID namespace of its
// own, where its first process is PID 1.
func ownPIDNamespace(hc *container.HostConfig) bool {
	return !hc.PidMode.IsHost() && !hc.PidMode.IsContainer()
}

// LookupInit finds the init binary on the host. initPath is the init-path
// setting: an absolute path is used as is (it must be an executable file),
// a name is searched like dockerd's docker-init (its libexec directories,
// then PATH); empty means docker-init, then tini-static in PATH.
func LookupInit(initPath string) (string, error) {
	return lookupInit(initPath, initLibexecDirs)
}

func lookupInit(initPath string, libexecDirs []string) (string, error) {
	if filepath.IsAbs(initPath) {
		if _, err := exec.LookPath(initPath); err != nil {
			return "", fmt.Errorf("init-path %s: %w", initPath, unwrapExec(err))
		}
		return initPath, nil
	}
	names := []string{initPath}
	if initPath == "" {
		names = []string{DefaultInitBinary, FallbackInitBinary}
	}
	for _, name := range names {
		for _, dir := range libexecDirs {
			if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
				return p, nil
			}
		}
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
	}
	if initPath == "" {
		return "", fmt.Errorf("neither %s nor %s is in PATH", DefaultInitBinary, FallbackInitBinary)
	}
	return "", fmt.Errorf("%s not found in PATH", initPath)
}

// unwrapExec drops exec.Error's `exec: "x":` prefix, which repeats the path.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// ParseInitVersion reads `tini --version`: "tini version 0.19.0 - git.de40ad0"
// from Docker's build, "tini version 0.19.0" from Debian's, which has no
// commit.
func ParseInitVersion(out string) (version, commit string, err error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	v, git, _ := strings.Cut(line, " - ")
	if c, ok := strings.CutPrefix(strings.TrimSpace(git), "git."); ok {
		commit = c
	}
	if ver, ok := strings.CutPrefix(strings.TrimSpace(v), "tini version "); ok {
		version = strings.TrimSpace(ver)
	}
	if version == "" && commit == "" {
		return "", "", fmt.Errorf("unknown init version output %q", line)
	}
	return version, commit, nil
}

// initMount bind-mounts the init read-only at /sbin/docker-init, as Docker
// does; like Docker's, it is a default mount that a user mount on the same
// destination replaces.
func initMount(hostPath string) specs.Mount {
	return specs.Mount{Destination: InContainerInitPath, Type: "bind", Source: hostPath, Options: []string{"bind", "ro"}}
}
