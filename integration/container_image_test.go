package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadBusybox loads the busybox fixture through the docker CLI.
func loadBusybox(t *testing.T, docker *dockerCLI) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(src, fixture(t, "busybox-docker-save.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker.ok("load", "-i", src)
}

// Images that containers use are kept as Docker keeps them: rmi needs force
// for a stopped container's image and cannot delete a running one's; prune
// skips both.
func TestContainerImageInUse(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)
	loadBusybox(t, docker)
	short := busyboxID[7:19]

	stopped := strings.TrimSpace(docker.ok("create", "--name", "stopped", "busybox", "true"))
	r := docker.run("rmi", "busybox")
	if want := `conflict: unable to remove repository reference "busybox" (must force) - container ` + stopped[:12] + ` is using its referenced image ` + short; r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("rmi of a stopped container's image: %s\nwant %q", r, want)
	}
	r = docker.run("rmi", short)
	if want := "conflict: unable to delete " + short + " (must be forced) - image is being used by stopped container " + stopped[:12]; r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("rmi by ID of a stopped container's image: %s\nwant %q", r, want)
	}
	docker.ok("image", "prune", "-a", "-f")
	docker.ok("image", "inspect", busyboxID)

	running := strings.TrimSpace(docker.ok("run", "-d", "--name", "running", "busybox", "sleep", "100"))
	t.Cleanup(func() { docker.run("rm", "-f", "running", "stopped") })
	r = docker.run("rmi", "-f", short)
	if want := "conflict: unable to delete " + short + " (cannot be forced) - image is being used by running container " + running[:12]; r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("rmi -f of a running container's image: %s\nwant %q", r, want)
	}
	// Forcing by name untags and keeps the image the containers use.
	if out := docker.ok("rmi", "-f", "busybox"); !strings.Contains(out, "Untagged: busybox:latest") || strings.Contains(out, "Deleted") {
		t.Fatalf("rmi -f busybox while containers use it:\n%s", out)
	}
	docker.ok("image", "inspect", busyboxID)
	docker.ok("rm", "-f", "running", "stopped")
	if out := docker.ok("rmi", short); !strings.Contains(out, "Deleted: "+busyboxID) {
		t.Fatalf("rmi once no container uses the image:\n%s", out)
	}
}

// docker run of an image berthd does not have: the CLI's create gets 404,
// pulls (here from a registry the test runs on 127.0.0.1) and creates again.
func TestContainerRunPullsMissingImage(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, nil)
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)
	loadBusybox(t, docker)
	ref := host + "/test/run:1"
	docker.ok("tag", "busybox", ref)
	docker.ok("push", ref)
	docker.ok("rmi", "-f", busyboxID[7:19])

	r := docker.run("run", "--rm", ref, "echo", "pulled")
	if r.exitCode != 0 || r.stdout != "pulled\n" || !strings.Contains(r.stderr, "Unable to find image '"+ref+"' locally") {
		t.Fatalf("docker run of a missing image: %s", r)
	}
	docker.ok("image", "inspect", ref)
}
