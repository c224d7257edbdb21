package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerPyScript drives berthd with docker-py, the Python Docker SDK
// (Debian's python3-docker), as Python users do.
const dockerPyScript = `
import docker, sys, time
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
print("api", c.version()["ApiVersion"])
v = c.volumes.create(name="py1", labels={"team": "db"})
assert v.attrs["Mountpoint"].endswith("/volumes/py1/_data"), v.attrs
assert [x.name for x in c.volumes.list(filters={"label": "team=db"})] == ["py1"]
c.volumes.create()
try:
    c.volumes.create(name="py3")
    sys.exit("quota not enforced")
except docker.errors.APIError as e:
    print("quota", e.status_code, e.explanation)
pruned = c.volumes.prune()
assert len(pruned["VolumesDeleted"]) == 1, pruned
c.volumes.get("py1").remove()
with open(sys.argv[2], "rb") as f:
    imgs = c.images.load(f.read())
print("loaded", imgs[0].tags, imgs[0].id)
c.images.remove("busybox:latest")
assert c.images.list() == []
events = list(c.events(since=0, until=int(time.time()) + 1, decode=True, filters={"type": "volume"}))
print("events", sorted({e["Action"] for e in events}))
`

func TestSDKPython(t *testing.T) {
	t.Parallel()
	if err := exec.Command(pythonBin, "-c", "import docker").Run(); err != nil {
		t.Skip("docker-py not installed (apt-get install python3-docker)")
	}
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(archive, fixture(t, "busybox-docker-save.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pythonBin, "-c", dockerPyScript, d.sock, archive).CombinedOutput()
	if err != nil {
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
	for _, want := range []string{
		"api 1.44",
		"quota 403 volume quota exceeded: 2 of 2 volumes in use (max-volumes=2)",
		"loaded ['busybox:latest'] " + busyboxID,
		"events ['create', 'destroy', 'prune', 'quota-exceeded']",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("docker-py output lacks %q:\n%s", want, out)
		}
	}
}

// pythonBin is Debian's python3, which python3-docker installs into; a
// python3 earlier on PATH (pyenv) would not have the module.
const pythonBin = "/usr/bin/python3"
