package integration

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func TestDaemonPidfileAndGracefulStop(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	cmd, _ := d.running()
	b, err := os.ReadFile(d.pidfile)
	if err != nil {
		t.Fatalf("reading pidfile: %v", err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || pid != cmd.Process.Pid {
		t.Errorf("pidfile holds %q, want %d", b, cmd.Process.Pid)
	}
	if fi, err := os.Stat(d.execRoot); err != nil || !fi.IsDir() {
		t.Errorf("exec root %s: %v", d.execRoot, err)
	}
	if fi, err := os.Stat(d.sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %s: %v", d.sock, err)
	}

	st := d.stop()
	if st == nil || !st.Success() {
		t.Fatalf("berthd exit after SIGTERM: %v, want status 0", st)
	}
	if _, err := os.Stat(d.pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after a clean stop: %v", err)
	}
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after a clean stop: %v", err)
	}
	// And it starts again on the same paths.
	d.start()
	d.expectQuota(0, 0)
}

func TestDaemonRestartAfterKill(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	d.createVolume("a", nil)
	d.kill()
	// The stale socket and pidfile of the killed berthd do not stop the next.
	d.start()
	d.expectQuota(2, 1)
	d.createVolume("b", nil)
	d.expectQuotaRefusal("c", 2, 2)
}

func TestDaemonRefusesSecondOnSameDataRoot(t *testing.T) {
	t.Parallel()
	first := startDaemon(t, daemonOpts{})
	first.createVolume("mine", nil)

	second := newDaemon(t, daemonOpts{})
	second.dataRoot = first.dataRoot
	err := second.startErr()
	if err == nil {
		t.Fatal("a second berthd started on a data root in use")
	}
	if !strings.Contains(err.Error(), "exited before answering") {
		t.Fatalf("second berthd: %v", err)
	}
	cmd, _ := second.running()
	if cmd == nil || cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Errorf("second berthd exit state %v, want a failure", cmd)
	}
	if log := second.logTail(); !strings.Contains(log, "already running") {
		t.Errorf("second berthd's error does not say another one runs:\n%s", log)
	}
	// The first one is unharmed.
	if got := first.volumeNames(""); !sameSet(got, []string{"mine"}) {
		t.Errorf("first berthd volumes %v", got)
	}
	expectStatus(t, first.do(http.MethodGet, "/_ping", nil), http.StatusOK, "ping first berthd")
}

func TestDaemonStopEndsEventStreams(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	s := d.streamEvents("")
	d.createVolume("v", nil)
	s.expect(events.VolumeEventType, events.ActionCreate, "v")

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.ch {
		}
	}()
	st := d.stop()
	if st == nil || !st.Success() {
		t.Errorf("berthd exit with an open event stream: %v, want status 0", st)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("event stream still open 10s after berthd stopped")
	}
}

func TestDaemonSIGHUPKeepsServing(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 3})
	d.createVolume("a", nil)
	// A reload with an unchanged file changes nothing; the flag stays in force.
	since := time.Now().Add(-time.Minute)
	for i := 1; i <= 3; i++ {
		d.signal(syscall.SIGHUP)
		waitFor(t, 15*time.Second, "reload event", func() bool {
			return len(d.eventsBetween(since, time.Now(), map[string][]string{"type": {"daemon"}, "event": {"reload"}})) == i
		})
		d.expectQuota(3, 1)
	}
	d.createVolume("b", nil)
	d.createVolume("c", nil)
	d.expectQuotaRefusal("d", 3, 3)
}

func TestDaemonConfigFile(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{config: map[string]any{"max-volumes": 3, "labels": []string{"zone=a"}}})
	info := d.info()
	if *info.VolumeQuota != (volumeQuota{MaxVolumes: 3, Volumes: 0}) {
		t.Errorf("VolumeQuota %+v, want max 3 from daemon.json", *info.VolumeQuota)
	}
	if !sameSet(info.Labels, []string{"zone=a"}) {
		t.Errorf("Labels %v, want [zone=a] from daemon.json", info.Labels)
	}
	// Labels reload live too.
	d.writeConfig(map[string]any{"max-volumes": 3, "labels": []string{"zone=b"}})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "labels reloaded", func() bool { return sameSet(d.info().Labels, []string{"zone=b"}) })
	d.expectQuota(3, 0)
}

func TestDaemonConfigFileErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts daemonOpts
		want string
	}{
		{"flag and file", daemonOpts{maxVolumes: 2, config: map[string]any{"max-volumes": 3}}, "specified both as a flag and in the configuration file"},
		{"unknown key", daemonOpts{config: map[string]any{"max-volumez": 3}}, "max-volumez"},
		{"negative max-volumes", daemonOpts{config: map[string]any{"max-volumes": -1}}, "max-volumes"},
	} {
		d := newDaemon(t, c.opts)
		if err := d.startErr(); err == nil {
			t.Errorf("%s: berthd started", c.name)
			continue
		}
		if log := d.logTail(); !strings.Contains(log, c.want) {
			t.Errorf("%s: berthd's error does not mention %q:\n%s", c.name, c.want, log)
		}
		d.stop()
	}
}

func TestDaemonReloadConflictKeepsConfig(t *testing.T) {
	t.Parallel()
	// With --max-volumes on the command line, a daemon.json that also sets it
	// is refused at reload, and the quota in force stays.
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	since := time.Now().Add(-time.Minute)
	d.writeConfig(map[string]any{"max-volumes": 10})
	d.signal(syscall.SIGHUP)
	// Then a good reload, to know the refused one was processed.
	d.writeConfig(map[string]any{"labels": []string{"ok=1"}})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "labels reloaded", func() bool { return sameSet(d.info().Labels, []string{"ok=1"}) })
	d.expectQuota(2, 0)
	d.createVolume("a", nil)
	d.createVolume("b", nil)
	d.expectQuotaRefusal("c", 2, 2)
	for _, m := range d.eventsBetween(since, time.Now(), map[string][]string{"type": {"daemon"}}) {
		if m.Actor.Attributes["max-volumes"] != "2" {
			t.Errorf("daemon event %s with max-volumes %q, want 2", m.Action, m.Actor.Attributes["max-volumes"])
		}
	}
}
