package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"
)

// expectQuotaRefusal creates name (a fresh one) and expects the 403 with the
// exact quota message.
func (d *daemon) expectQuotaRefusal(name string, inUse, max int) {
	d.t.Helper()
	r := d.do(http.MethodPost, "/volumes/create", volume.CreateRequest{Name: name})
	expectError(d.t, r, http.StatusForbidden, "volume quota exceeded", "create "+name+" when full")
	if want := quotaMessage(inUse, max); r.message() != want {
		d.t.Fatalf("quota refusal message\n got: %q\nwant: %q", r.message(), want)
	}
}

func TestQuotaLimit(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 3})
	d.expectQuota(3, 0)
	for i, name := range []string{"q1", "q2", "q3"} {
		d.createVolume(name, nil)
		d.expectQuota(3, i+1)
	}
	d.expectQuotaRefusal("q4", 3, 3)
	// Validation comes before the quota: a bad request is still a 400 or 404.
	r := d.do(http.MethodPost, "/volumes/create", volume.CreateRequest{Name: "../bad"})
	expectError(t, r, http.StatusBadRequest, "invalid characters", "bad name when full")
	r = d.do(http.MethodPost, "/volumes/create", volume.CreateRequest{Name: "x", Driver: "nosuchdriver"})
	expectError(t, r, http.StatusNotFound, "nosuchdriver", "unknown driver when full")
	r = d.do(http.MethodPost, "/volumes/create", `{"Name":`)
	expectError(t, r, http.StatusBadRequest, "invalid JSON", "malformed body when full")
	// Refused on every path form and for anonymous volumes alike.
	for _, prefix := range pathPrefixes {
		r := d.do(http.MethodPost, prefix+"/volumes/create", `{"Name":"q5"}`)
		expectError(t, r, http.StatusForbidden, quotaMessage(3, 3), "POST "+prefix+"/volumes/create when full")
		r = d.do(http.MethodPost, prefix+"/volumes/create", `{}`)
		expectError(t, r, http.StatusForbidden, quotaMessage(3, 3), "anonymous create when full")
	}
	r = d.do(http.MethodGet, "/volumes/q4", nil)
	expectError(t, r, http.StatusNotFound, "no such volume", "inspect refused volume")
	d.expectQuota(3, 3)
	// Nothing of the refused volumes is on disk.
	for _, n := range []string{"q4", "q5"} {
		if _, err := os.Stat(filepath.Join(d.dataRoot, "volumes", n)); err == nil {
			t.Errorf("refused volume %s has a directory", n)
		}
	}
}

func TestQuotaConcurrentCreates(t *testing.T) {
	t.Parallel()
	const max, clients, rounds = 10, 64, 4
	d := startDaemon(t, daemonOpts{maxVolumes: max})
	for round := range rounds {
		anonymous := round%2 == 1
		var created, refused, other atomic.Int64
		var mu sync.Mutex
		var failures []string
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				name := ""
				if !anonymous {
					name = fmt.Sprintf("r%d-c%02d", round, i)
				}
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				r, err := d.request(ctx, http.MethodPost, "/volumes/create", volume.CreateRequest{Name: name})
				switch {
				case err != nil:
					other.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				case r.status == http.StatusCreated:
					created.Add(1)
				case r.status == http.StatusForbidden && r.message() == quotaMessage(max, max):
					refused.Add(1)
				default:
					other.Add(1)
					mu.Lock()
					failures = append(failures, r.String())
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if created.Load() != max || refused.Load() != clients-max || other.Load() != 0 {
			t.Fatalf("round %d (anonymous %v): %d created, %d refused, %d other %q; want %d, %d, 0",
				round, anonymous, created.Load(), refused.Load(), other.Load(), failures, max, clients-max)
		}
		d.expectQuota(max, max)
		dirs, _ := os.ReadDir(filepath.Join(d.dataRoot, "volumes"))
		n := 0
		for _, e := range dirs {
			if e.IsDir() {
				n++
			}
		}
		if n != max {
			t.Errorf("round %d: %d volume directories on disk, want %d", round, n, max)
		}
		rep := d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"all": {"true"}}))
		if len(rep.VolumesDeleted) != max {
			t.Fatalf("round %d: prune removed %d, want %d", round, len(rep.VolumesDeleted), max)
		}
		d.expectQuota(max, 0)
	}

	// 64 concurrent creates of one name with one slot free: all succeed, one
	// volume, one slot.
	for i := range max - 1 {
		d.createVolume(fmt.Sprintf("fill%d", i), nil)
	}
	var wg sync.WaitGroup
	results := make([]string, clients)
	for i := range clients {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := d.request(ctx, http.MethodPost, "/volumes/create", volume.CreateRequest{Name: "shared"})
			if err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = fmt.Sprint(r.status)
		})
	}
	wg.Wait()
	for i, res := range results {
		if res != "201" {
			t.Errorf("concurrent create of one name, client %d: %s, want 201", i, res)
		}
	}
	d.expectQuota(max, max)
}

// TestQuotaConcurrentChurn mixes creates, removes and prunes of a few names
// from many clients; the count must match the volumes at the end.
func TestQuotaConcurrentChurn(t *testing.T) {
	t.Parallel()
	const max, clients, ops = 5, 16, 40
	d := startDaemon(t, daemonOpts{maxVolumes: max})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range ops {
				name := fmt.Sprintf("churn%d", (c*7+i*3)%8)
				var method, path string
				var body any
				switch (c + i) % 7 {
				case 0, 1, 2:
					method, path, body = http.MethodPost, "/volumes/create", volume.CreateRequest{Name: name}
				case 3:
					method, path, body = http.MethodPost, "/volumes/create", volume.CreateRequest{}
				case 4, 5:
					method, path = http.MethodDelete, "/volumes/"+name+"?force=1"
				case 6:
					method, path = http.MethodPost, "/volumes/prune"
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := d.request(ctx, method, path, body)
				cancel()
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					return
				}
				switch {
				case r.status == http.StatusCreated, r.status == http.StatusNoContent, r.status == http.StatusOK:
				case r.status == http.StatusForbidden && method == http.MethodPost:
				default:
					t.Errorf("%s %s: %s", method, path, r)
				}
			}
		})
	}
	wg.Wait()
	q := d.quota()
	n := len(d.listVolumes(""))
	if q.Volumes != n || n > max {
		t.Fatalf("after churn: /info counts %d, GET /volumes lists %d, max %d", q.Volumes, n, max)
	}
	d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"all": {"true"}}))
	d.expectQuota(max, 0)
	for i := range max {
		d.createVolume(fmt.Sprintf("after%d", i), nil)
	}
	d.expectQuotaRefusal("overflow", max, max)
}

func TestQuotaRecreateWhenFull(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	a := d.createVolume("a", map[string]string{"x": "y"})
	anon := d.createVolume("", nil)
	d.expectQuotaRefusal("c", 2, 2)
	for _, req := range []volume.CreateRequest{{Name: "a"}, {Name: "a", Driver: "local"}, {Name: anon.Name}} {
		r := d.do(http.MethodPost, "/volumes/create", req)
		expectStatus(t, r, http.StatusCreated, "re-create "+req.Name+" when full")
		var v volume.Volume
		r.decode(t, &v)
		want := a
		if req.Name == anon.Name {
			want = anon
		}
		if v.Name != want.Name || v.Mountpoint != want.Mountpoint || v.CreatedAt != want.CreatedAt || !maps(v.Labels, want.Labels) {
			t.Errorf("re-create returned %+v, want %+v", v, want)
		}
	}
	d.expectQuota(2, 2)
	d.expectQuotaRefusal("c", 2, 2)
}

func TestQuotaAnonymousVolumesCount(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	d.createVolume("", nil)
	d.expectQuota(2, 1)
	d.createVolume("", nil)
	d.expectQuota(2, 2)
	r := d.do(http.MethodPost, "/volumes/create", `{}`)
	expectError(t, r, http.StatusForbidden, quotaMessage(2, 2), "third anonymous create")
	if r.message() != quotaMessage(2, 2) {
		t.Errorf("message %q, want %q", r.message(), quotaMessage(2, 2))
	}
	d.expectQuotaRefusal("named", 2, 2)
}

func TestQuotaRemoveAndPruneFreeSlots(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	d.createVolume("a", nil)
	anon := d.createVolume("", nil)
	d.expectQuotaRefusal("b", 2, 2)

	expectStatus(t, d.do(http.MethodDelete, "/volumes/a", nil), http.StatusNoContent, "remove a")
	d.expectQuota(2, 1)
	d.createVolume("b", nil)
	d.expectQuotaRefusal("c", 2, 2)

	rep := d.prune("/volumes/prune")
	if !sameSet(rep.VolumesDeleted, []string{anon.Name}) {
		t.Fatalf("prune deleted %v, want [%s]", rep.VolumesDeleted, anon.Name)
	}
	d.expectQuota(2, 1)
	d.createVolume("c", nil)
	d.expectQuotaRefusal("d", 2, 2)

	// force-removing a missing volume frees nothing.
	expectStatus(t, d.do(http.MethodDelete, "/volumes/nosuch?force=1", nil), http.StatusNoContent, "force-remove missing")
	d.expectQuota(2, 2)
	d.expectQuotaRefusal("d", 2, 2)

	rep = d.prune("/volumes/prune?" + filtersQuery(map[string][]string{"all": {"true"}}))
	if !sameSet(rep.VolumesDeleted, []string{"b", "c"}) {
		t.Fatalf("prune all deleted %v, want [b c]", rep.VolumesDeleted)
	}
	d.expectQuota(2, 0)
	d.createVolume("d", nil)
	d.createVolume("e", nil)
	d.expectQuotaRefusal("f", 2, 2)
}

func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 3})
	named := d.createVolume("keep", map[string]string{"k": "v"})
	anon := d.createVolume("", nil)
	withData := d.createVolume("data", nil)
	writeData(t, withData, 1234)
	before := map[string]volume.Volume{}
	for _, v := range d.listVolumes("") {
		before[v.Name] = v
	}

	if st := d.stop(); st == nil || !st.Success() {
		t.Errorf("berthd exit after SIGTERM: %v, want status 0", st)
	}
	d.start()

	after := d.listVolumes("")
	if len(after) != 3 {
		t.Fatalf("after restart: %d volumes, want 3", len(after))
	}
	for _, v := range after {
		b, ok := before[v.Name]
		if !ok {
			t.Errorf("after restart: unexpected volume %s", v.Name)
			continue
		}
		if v.Mountpoint != b.Mountpoint || v.CreatedAt != b.CreatedAt || v.Driver != b.Driver || !maps(v.Labels, b.Labels) {
			t.Errorf("after restart %+v, before %+v", v, b)
		}
	}
	if _, ok := before[named.Name]; !ok {
		t.Fatal("named volume missing before restart")
	}
	r := d.do(http.MethodGet, "/volumes/"+anon.Name, nil)
	expectStatus(t, r, http.StatusOK, "inspect anonymous volume after restart")
	var v volume.Volume
	r.decode(t, &v)
	if _, ok := v.Labels[anonymousLabel]; !ok {
		t.Errorf("anonymous volume lost its label across the restart: %v", v.Labels)
	}
	if b, err := os.ReadFile(filepath.Join(withData.Mountpoint, "payload")); err != nil || len(b) != 1234 {
		t.Errorf("volume data after restart: %d bytes, %v", len(b), err)
	}
	d.expectQuota(3, 3)
	d.expectQuotaRefusal("more", 3, 3)
	// A re-create of an existing name still works when full.
	d.createVolume("keep", nil)

	// The anonymous one is still prunable, which frees its slot.
	rep := d.prune("/volumes/prune")
	if !sameSet(rep.VolumesDeleted, []string{anon.Name}) {
		t.Errorf("prune after restart deleted %v, want [%s]", rep.VolumesDeleted, anon.Name)
	}
	d.createVolume("more", nil)

	// Restart with a larger quota: the count carries over.
	d.stop()
	d.opts.maxVolumes = 5
	d.start()
	d.expectQuota(5, 3)
	d.createVolume("four", nil)
	d.createVolume("five", nil)
	d.expectQuotaRefusal("six", 5, 5)

	// And with a smaller one: every volume kept, creates refused.
	d.stop()
	d.opts.maxVolumes = 2
	d.start()
	d.expectQuota(2, 5)
	d.expectQuotaRefusal("six", 5, 2)
}

// createStorm runs 200 creates (8 clients, 25 each, one in five anonymous)
// against d, calls interrupt once stopAfter of them have succeeded (or all
// are done), waits for the clients, starts berthd again, and checks that the
// volumes, the quota count and the disk agree, and that every create
// acknowledged with a 201 survived.
func createStorm(t *testing.T, d *daemon, max, round, stopAfter int, interrupt func()) {
	t.Helper()
	const workers, perWorker = 8, 25
	var mu sync.Mutex
	acked := map[string]bool{}
	var ok atomic.Int64
	trigger := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				name := fmt.Sprintf("s%d-w%d-%02d", round, w, i)
				if i%5 == 4 {
					name = "" // anonymous
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := d.request(ctx, http.MethodPost, "/volumes/create", volume.CreateRequest{Name: name})
				cancel()
				if err != nil {
					return // berthd is gone
				}
				switch r.status {
				case http.StatusCreated:
					var v volume.Volume
					if err := json.Unmarshal(r.body, &v); err != nil || v.Name == "" {
						t.Errorf("create answer %s: %v", r, err)
						return
					}
					mu.Lock()
					acked[v.Name] = true
					mu.Unlock()
					if ok.Add(1) == int64(stopAfter) {
						once.Do(func() { close(trigger) })
					}
				case http.StatusForbidden:
					if r.message() != quotaMessage(max, max) {
						t.Errorf("refusal %q", r.message())
					}
				default:
					t.Errorf("create during storm: %s", r)
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-trigger:
	case <-allDone:
	}
	interrupt()
	<-allDone
	d.start()

	list := d.listVolumes("")
	q := d.quota()
	if q.Volumes != len(list) || q.MaxVolumes != max {
		t.Fatalf("round %d after the restart: /info VolumeQuota %+v, GET /volumes has %d", round, q, len(list))
	}
	if len(list) > max {
		t.Fatalf("round %d: %d volumes, more than max-volumes %d", round, len(list), max)
	}
	listed := map[string]bool{}
	for _, v := range list {
		listed[v.Name] = true
		if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
			t.Errorf("round %d: volume %s has no data directory after the restart: %v", round, v.Name, err)
		}
	}
	for name := range acked {
		if !listed[name] {
			t.Errorf("round %d: volume %s was acknowledged (201) before the stop but is gone after the restart", round, name)
		}
	}
	// Every volume directory on disk is a listed volume.
	dirs, _ := os.ReadDir(filepath.Join(d.dataRoot, "volumes"))
	for _, e := range dirs {
		if e.IsDir() && !listed[e.Name()] {
			t.Errorf("round %d: directory %s on disk is not a volume after the restart", round, e.Name())
		}
	}
	t.Logf("round %d: %d acknowledged, %d volumes after the restart", round, len(acked), len(list))
}

// expectFillsExactly prunes the anonymous volumes, then checks that exactly
// max-count creates fit before the quota refuses.
func (d *daemon) expectFillsExactly(max int) {
	d.t.Helper()
	d.prune("/volumes/prune")
	n := len(d.listVolumes(""))
	d.expectQuota(max, n)
	if n == max {
		d.t.Fatalf("prune freed no slot: %d volumes", n)
	}
	for i := n; i < max; i++ {
		d.createVolume(fmt.Sprintf("fill%03d", i), nil)
	}
	d.expectQuota(max, max)
	d.expectQuotaRefusal("overflow", max, max)
}

func TestQuotaKillDuringCreateStorm(t *testing.T) {
	t.Parallel()
	const max = 150
	d := startDaemon(t, daemonOpts{maxVolumes: max})
	for round, killAfter := range []int{25, 50, 90} {
		createStorm(t, d, max, round, killAfter, d.kill)
	}
	d.expectFillsExactly(max)
}

func TestQuotaStopDuringCreateStorm(t *testing.T) {
	t.Parallel()
	const max = 150
	d := startDaemon(t, daemonOpts{maxVolumes: max})
	for round, stopAfter := range []int{30, 60} {
		createStorm(t, d, max, round, stopAfter, func() {
			if st := d.stop(); st == nil || !st.Success() {
				t.Errorf("berthd exit after SIGTERM during a create storm: %v, want status 0", st)
			}
		})
	}
	d.expectFillsExactly(max)
}

func TestQuotaReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	// No --max-volumes flag, no config file: unlimited.
	d := startDaemon(t, daemonOpts{})
	since := time.Now().Add(-time.Millisecond)
	d.expectQuota(0, 0)
	for _, n := range []string{"a", "b", "c", "d"} {
		d.createVolume(n, nil)
	}

	d.writeConfig(map[string]any{"max-volumes": 2})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "MaxVolumes 2 after SIGHUP", func() bool { return d.quota().MaxVolumes == 2 })
	d.expectQuota(2, 4)
	if got := d.volumeNames(""); !sameSet(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("volumes after lowering the quota: %v, want all four kept", got)
	}
	d.expectQuotaRefusal("e", 4, 2)
	expectStatus(t, d.do(http.MethodPost, "/volumes/create", `{}`), http.StatusForbidden, "anonymous create over the lowered quota")
	// Removing one is not enough to get under it.
	expectStatus(t, d.do(http.MethodDelete, "/volumes/a", nil), http.StatusNoContent, "remove a")
	d.expectQuotaRefusal("e", 3, 2)
	// Re-creating an existing one still works.
	d.createVolume("b", nil)

	// A config file that does not parse is refused; the daemon keeps running
	// with the quota in force.
	logged := len(d.logContents())
	d.writeConfigRaw([]byte(`{"max-volumes": `))
	d.signal(syscall.SIGHUP)
	// Wait until berthd has logged the refusal, so that the next write is
	// not what this reload reads.
	waitFor(t, 15*time.Second, "the refused reload in berthd's log", func() bool {
		l := d.logContents()
		return len(l) > logged && strings.Contains(strings.ToLower(l[logged:]), "json")
	})
	d.expectQuota(2, 3)

	d.writeConfig(map[string]any{"max-volumes": 5})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "MaxVolumes 5 after SIGHUP", func() bool { return d.quota().MaxVolumes == 5 })
	d.createVolume("e", nil)
	d.createVolume("f", nil)
	d.expectQuota(5, 5)
	d.expectQuotaRefusal("g", 5, 5)

	// Removing max-volumes from the file goes back to unlimited.
	d.writeConfig(map[string]any{})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "MaxVolumes 0 after SIGHUP", func() bool { return d.quota().MaxVolumes == 0 })
	d.createVolume("g", nil)
	d.expectQuota(0, 6)

	// Each reload is a daemon event.
	var reloads []events.Message
	for _, m := range d.eventsBetween(since, time.Now(), map[string][]string{"type": {"daemon"}, "event": {"reload"}}) {
		reloads = append(reloads, m)
	}
	var maxes []string
	for _, m := range reloads {
		maxes = append(maxes, m.Actor.Attributes["max-volumes"])
	}
	if len(maxes) != 3 || maxes[0] != "2" || maxes[1] != "5" || maxes[2] != "0" {
		t.Errorf("daemon reload events carry max-volumes %q, want [2 5 0]", maxes)
	}
}

func TestQuotaExceededEvent(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 1})
	s := d.streamEvents(filtersQuery(map[string][]string{"type": {"volume"}}))
	only := d.streamEvents(filtersQuery(map[string][]string{"event": {"quota-exceeded"}}))
	d.createVolume("first", nil)
	d.expectQuotaRefusal("second", 1, 1)
	expectStatus(t, d.do(http.MethodPost, "/volumes/create", `{}`), http.StatusForbidden, "anonymous create when full")

	s.expect(events.VolumeEventType, events.ActionCreate, "first")
	for _, st := range []*eventStream{s, only} {
		m := st.expect(events.VolumeEventType, "quota-exceeded", "second")
		if m.Actor.Attributes["max-volumes"] != "1" || m.Actor.Attributes["in-use"] != "1" {
			t.Errorf("quota-exceeded attributes %v, want max-volumes=1 in-use=1", m.Actor.Attributes)
		}
		m = st.next()
		if m.Type != events.VolumeEventType || m.Action != "quota-exceeded" {
			t.Errorf("event for the refused anonymous create: %s %s, want volume quota-exceeded", m.Type, m.Action)
		}
	}
	// A refusal creates nothing, so no create event followed.
	d.createVolume("first", nil) // re-create: no event either
	expectStatus(t, d.do(http.MethodDelete, "/volumes/first", nil), http.StatusNoContent, "remove first")
	s.expect(events.VolumeEventType, events.ActionDestroy, "first")
}
