package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestBerthCLIImages(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	berth := newBerthCLI(t, d)
	dir := t.TempDir()
	src := filepath.Join(dir, "layered.tar")
	os.WriteFile(src, fixture(t, "layered-docker-save.tar"), 0o644)

	if out := berth.ok("load", "-i", src); !strings.Contains(out, "Loaded image: fixture/layered:1.0") {
		t.Errorf("berth load: %s", out)
	}
	out := berth.ok("images")
	if !regexp.MustCompile(`(?m)^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^fixture/layered\s+1\.0\s+7a92bbc04899\s`).MatchString(out) {
		t.Errorf("berth images:\n%s", out)
	}
	if id := strings.TrimSpace(berth.ok("image", "inspect", "-f", "{{.Id}}", "fixture/layered:1.0")); id != layeredID {
		t.Errorf("berth image inspect: %s", id)
	}
	if n := len(lines(berth.ok("history", "-q", "fixture/layered:1.0"))); n != 9 {
		t.Errorf("berth history -q: %d rows, want 9", n)
	}
	berth.ok("tag", "fixture/layered:1.0", "mine:2")
	saved := filepath.Join(dir, "saved.tar")
	berth.ok("save", "-o", saved, "mine:2")
	if out := berth.ok("rmi", "mine:2"); !strings.Contains(out, "Untagged: mine:2") {
		t.Errorf("berth rmi: %s", out)
	}
	berth.ok("load", "-q", "-i", saved)
	if id := strings.TrimSpace(berth.ok("image", "inspect", "-f", "{{.Id}}", "mine:2")); id != layeredID {
		t.Errorf("after save/load: %s", id)
	}
	r := berth.run("rmi", "nope")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: No such image: nope:latest") {
		t.Errorf("berth rmi nope: %s", r)
	}

	rootfs := filepath.Join(dir, "rootfs.tar")
	os.WriteFile(rootfs, busyboxRootfs(t), 0o644)
	if id := strings.TrimSpace(berth.ok("import", "-c", "ENV X=1", rootfs, "bb:imported")); !strings.HasPrefix(id, "sha256:") {
		t.Errorf("berth import printed %q", id)
	}
	berth.ok("rmi", "bb:imported")
	if out := berth.ok("image", "prune", "-a", "-f"); !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("berth image prune: %s", out)
	}
	if out := strings.TrimSpace(berth.ok("images", "-q")); out != "" {
		t.Errorf("images left after prune -a: %s", out)
	}
}
