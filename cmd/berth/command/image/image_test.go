package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// fakeDaemon answers the image endpoints from memory and records what the
// client sent, so the tests exercise the real moby client on the wire.
type fakeDaemon struct {
	mu      sync.Mutex
	images  []image.Summary
	inspect map[string]string // raw inspect JSON by reference
	history []image.HistoryResponseItem
	deletes map[string][]image.DeleteResponse // DELETE answers by reference
	pruned  image.PruneReport
	stream  string // the body of load, import, pull and push answers

	// What the last request carried.
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
	calls        int

	host string // where it listens, for a command.Cli
}

func newFakeDaemon(t *testing.T) (*fakeDaemon, *client.Client) {
	t.Helper()
	d := &fakeDaemon{inspect: map[string]string{}, deletes: map[string][]image.DeleteResponse{}}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.host = "tcp://" + srv.Listener.Addr().String()
	api, err := client.New(client.WithHost(d.host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return d, api
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func noSuchImage(w http.ResponseWriter, ref string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "No such image: " + ref})
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" {
		w.Header().Set("Api-Version", "1.44")
		_, _ = w.Write([]byte("OK"))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.method, d.query, d.header = r.Method, r.URL.Query(), r.Header.Clone()
	d.body, _ = io.ReadAll(r.Body)
	_, p, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // drop /v1.44
	d.path = "/" + p
	ref := strings.TrimPrefix(d.path, "/images/")
	stream := func() {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, d.stream)
	}
	switch {
	case r.Method == http.MethodGet && d.path == "/images/json":
		writeJSON(w, http.StatusOK, d.images)
	case r.Method == http.MethodGet && d.path == "/images/get" && slices.Contains(d.query["names"], "nope"):
		noSuchImage(w, "nope")
	case r.Method == http.MethodGet && d.path == "/images/get":
		w.Header().Set("Content-Type", "application/x-tar")
		_, _ = io.WriteString(w, "TAR:"+strings.Join(d.query["names"], ","))
	case r.Method == http.MethodPost && (d.path == "/images/load" || d.path == "/images/create"):
		stream()
	case r.Method == http.MethodPost && d.path == "/images/prune":
		writeJSON(w, http.StatusOK, d.pruned)
	case r.Method == http.MethodGet && strings.HasSuffix(ref, "/json"):
		raw, ok := d.inspect[strings.TrimSuffix(ref, "/json")]
		if !ok {
			noSuchImage(w, strings.TrimSuffix(ref, "/json"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, raw)
	case r.Method == http.MethodGet && strings.HasSuffix(ref, "/history"):
		writeJSON(w, http.StatusOK, d.history)
	case r.Method == http.MethodPost && strings.HasSuffix(ref, "/tag"):
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPost && strings.HasSuffix(ref, "/push"):
		stream()
	case r.Method == http.MethodDelete:
		dels, ok := d.deletes[ref]
		switch {
		case ok:
			writeJSON(w, http.StatusOK, dels)
		case ref == "busy":
			writeJSON(w, http.StatusConflict, map[string]string{"message": "conflict: unable to remove repository reference \"busy\" (must force) - container 0123 is using its referenced image 4567"})
		default:
			noSuchImage(w, ref)
		}
	default:
		http.NotFound(w, r)
	}
}

const (
	idA = "sha256:aded1e1a5b3705116fa0a92ba074a5e0b0031647d9c315983ccba2ee5428ec8b"
	idB = "sha256:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
	idC = "sha256:c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"
	dg1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// stopClock fixes "now" so that ages print predictably.
func stopClock(t *testing.T) time.Time {
	t.Helper()
	fixed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := now
	now = func() time.Time { return fixed }
	t.Cleanup(func() { now = old })
	return fixed
}

func sampleImages(at time.Time) []image.Summary {
	return []image.Summary{
		{ID: idA, RepoTags: []string{"alpine:latest", "alpine:3.21"}, RepoDigests: []string{"alpine@" + dg1},
			Created: at.Add(-90 * time.Second).Unix(), Size: 7_834_112, Containers: -1, SharedSize: -1},
		{ID: idB, RepoTags: []string{"registry.example.com:5000/team/app:v1"},
			Created: at.Add(-3 * time.Hour).Unix(), Size: 123_456_789, Containers: 2, SharedSize: 1000},
		{ID: idC, Created: at.Add(-49 * time.Hour).Unix(), Size: 1024, Containers: -1, SharedSize: -1},
	}
}

func TestListTable(t *testing.T) {
	at := stopClock(t)
	d, api := newFakeDaemon(t)
	d.images = sampleImages(at)
	var out bytes.Buffer
	if err := runList(context.Background(), api, &out, listOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `REPOSITORY                           TAG       IMAGE ID       CREATED              SIZE
alpine                               latest    aded1e1a5b37   About a minute ago   7.83MB
alpine                               3.21      aded1e1a5b37   About a minute ago   7.83MB
registry.example.com:5000/team/app   v1        b0b0b0b0b0b0   3 hours ago          123MB
<none>                               <none>    c0ffeec0ffee   2 days ago           1.02kB
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if d.query.Get("all") != "" || d.query.Get("filters") != "" {
		t.Errorf("query %v", d.query)
	}
}

func TestListDigestsAndFormats(t *testing.T) {
	at := stopClock(t)
	d, api := newFakeDaemon(t)
	d.images = sampleImages(at)
	// A repository known only by digest.
	d.images = append(d.images, image.Summary{ID: idC, RepoDigests: []string{"busybox@" + dg1}, Created: at.Unix(), Size: 1, Containers: -1, SharedSize: -1})
	for _, tc := range []struct {
		name string
		opts listOptions
		want string
	}{
		{"digests", listOptions{digests: true},
			"REPOSITORY                           TAG       DIGEST                                                                    IMAGE ID       CREATED                  SIZE\n" +
				"alpine                               latest    " + dg1 + "   aded1e1a5b37   About a minute ago       7.83MB\n" +
				"alpine                               3.21      " + dg1 + "   aded1e1a5b37   About a minute ago       7.83MB\n" +
				"registry.example.com:5000/team/app   v1        <none>                                                                    b0b0b0b0b0b0   3 hours ago              123MB\n" +
				"<none>                               <none>    <none>                                                                    c0ffeec0ffee   2 days ago               1.02kB\n" +
				"busybox                              <none>    " + dg1 + "   c0ffeec0ffee   Less than a second ago   1B\n"},
		{"quiet", listOptions{quiet: true}, "aded1e1a5b37\naded1e1a5b37\nb0b0b0b0b0b0\nc0ffeec0ffee\nc0ffeec0ffee\n"},
		{"quiet no-trunc", listOptions{quiet: true, noTrunc: true}, idA + "\n" + idA + "\n" + idB + "\n" + idC + "\n" + idC + "\n"},
		{"format beats quiet", listOptions{quiet: true, format: "{{.Repository}}:{{.Tag}}"},
			"alpine:latest\nalpine:3.21\nregistry.example.com:5000/team/app:v1\n<none>:<none>\nbusybox:<none>\n"},
		{"digest in format shows digests", listOptions{format: "{{.Tag}} {{.Digest}}"},
			"latest " + dg1 + "\n3.21 " + dg1 + "\nv1 <none>\n<none> <none>\n<none> \n"},
		{"custom table gets a digest column", listOptions{digests: true, format: "table {{.Tag}}"},
			"TAG       DIGEST\nlatest    " + dg1 + "\n3.21      " + dg1 + "\nv1        <none>\n<none>    <none>\n<none>    " + dg1 + "\n"},
		{"sizes and containers", listOptions{format: "table {{.Tag}}\t{{.Containers}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.VirtualSize}}"},
			"TAG       CONTAINERS   SHARED SIZE   UNIQUE SIZE   SIZE\n" +
				"latest    N/A          N/A           N/A           7.834MB\n" +
				"3.21      N/A          N/A           N/A           7.834MB\n" +
				"v1        2            1kB           123.5MB       123.5MB\n" +
				"<none>    N/A          N/A           N/A           1.024kB\n" +
				"<none>    N/A          N/A           N/A           1B\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runList(context.Background(), api, &out, tc.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}

func TestListJSON(t *testing.T) {
	at := stopClock(t)
	d, api := newFakeDaemon(t)
	d.images = sampleImages(at)[2:]
	var out bytes.Buffer
	if err := runList(context.Background(), api, &out, listOptions{format: "json"}); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(at.Add(-49*time.Hour).Unix(), 0).String()
	want := `{"Containers":"N/A","CreatedAt":"` + created + `","CreatedSince":"2 days ago","Digest":"\u003cnone\u003e","ID":"c0ffeec0ffee","Repository":"\u003cnone\u003e","SharedSize":"N/A","Size":"1.02kB","Tag":"\u003cnone\u003e","UniqueSize":"N/A","VirtualSize":"1.024kB"}` + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestListSendsFiltersAndAll(t *testing.T) {
	d, api := newFakeDaemon(t)
	f := client.Filters{}.Add("dangling", "true")
	if err := runList(context.Background(), api, &bytes.Buffer{}, listOptions{all: true, match: "alpine:3*", filters: f}); err != nil {
		t.Fatal(err)
	}
	if d.query.Get("all") != "1" || d.query.Get("filters") != `{"dangling":{"true":true},"reference":{"alpine:3*":true}}` {
		t.Errorf("query %v", d.query)
	}
	if len(f) != 1 {
		t.Errorf("caller's filters changed: %v", f)
	}
}

const rawInspect = `{"Id":"` + idA + `","RepoTags":["alpine:latest"],"RepoDigests":[],"Created":"2026-01-02T03:04:05Z","Config":{"Cmd":["/bin/sh","-c","a && b"]},"Architecture":"amd64","Os":"linux","Size":7834112,"RootFS":{"Type":"layers"},"Metadata":{},"BerthExtra":"kept"}`

func TestInspect(t *testing.T) {
	d, api := newFakeDaemon(t)
	d.inspect["alpine"] = rawInspect + "\n"
	var out bytes.Buffer
	err := runInspect(context.Background(), api, &out, inspectOptions{refs: []string{"alpine", "nope"}})
	if err == nil || err.Error() != "Error response from daemon: No such image: nope" {
		t.Errorf("err = %v", err)
	}
	want := `[
    {
        "Id": "` + idA + `",
        "RepoTags": [
            "alpine:latest"
        ],
        "RepoDigests": [],
        "Created": "2026-01-02T03:04:05Z",
        "Config": {
            "Cmd": [
                "/bin/sh",
                "-c",
                "a && b"
            ]
        },
        "Architecture": "amd64",
        "Os": "linux",
        "Size": 7834112,
        "RootFS": {
            "Type": "layers"
        },
        "Metadata": {},
        "BerthExtra": "kept"
    }
]
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	for _, tc := range []struct{ format, want string }{
		{"json", "[" + rawInspect + "]\n"},
		{"{{.ID}} {{.Size}}", idA + " 7834112\n"},                      // the typed object
		{"{{.Id}} {{.Size}} {{.BerthExtra}}", idA + " 7834112 kept\n"}, // the raw JSON, numbers intact
		{"{{json .Config.Cmd}}", `["/bin/sh","-c","a && b"]` + "\n"},   // typed
		{"{{index .RepoTags 0}}|{{.Os}}/{{.Architecture}}", "alpine:latest|linux/amd64\n"},
	} {
		out.Reset()
		if err := runInspect(context.Background(), api, &out, inspectOptions{refs: []string{"alpine"}, format: tc.format}); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q want %q", tc.format, out.String(), tc.want)
		}
	}

	out.Reset()
	if err := runInspect(context.Background(), api, &out, inspectOptions{refs: []string{"nope"}}); err == nil || out.String() != "[]\n" {
		t.Errorf("missing only: %q, %v", out.String(), err)
	}
}

func TestHistory(t *testing.T) {
	at := stopClock(t)
	d, api := newFakeDaemon(t)
	d.history = []image.HistoryResponseItem{
		{ID: idA, Created: at.Add(-2 * time.Hour).Unix(), CreatedBy: "CMD [\"/bin/sh\"]", Size: 0, Comment: "buildkit.dockerfile.v0", Tags: []string{"alpine:latest"}},
		{ID: "<missing>", Created: at.Add(-50 * 24 * time.Hour).Unix(), CreatedBy: "ADD alpine-minirootfs-3.21.3-x86_64.tar.gz / # buildkit", Size: 7834112},
		{ID: "", Created: 0, CreatedBy: "/bin/sh -c\t#(nop) LABEL a=b", Size: 12},
	}
	var out bytes.Buffer
	if err := runHistory(context.Background(), api, &out, historyOptions{ref: "alpine", human: true}); err != nil {
		t.Fatal(err)
	}
	want := `IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT
aded1e1a5b37   2 hours ago   CMD ["/bin/sh"]                                 0B        buildkit.dockerfile.v0
<missing>      7 weeks ago   ADD alpine-minirootfs-3.21.3-x86_64.tar.gz /…   7.83MB    
<missing>                    /bin/sh -c #(nop) LABEL a=b                     12B       
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if d.path != "/images/alpine/history" {
		t.Errorf("path %s", d.path)
	}

	out.Reset()
	if err := runHistory(context.Background(), api, &out, historyOptions{ref: "alpine", quiet: true}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "aded1e1a5b37\n<missing>\n<missing>\n" {
		t.Errorf("quiet: %q", out.String())
	}

	out.Reset()
	if err := runHistory(context.Background(), api, &out, historyOptions{ref: "alpine", human: true, noTrunc: true, format: "{{.CreatedBy}}|{{.Size}}|{{.CreatedSince}}"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "CMD [\"/bin/sh\"]|0B|2 hours ago\nADD alpine-minirootfs-3.21.3-x86_64.tar.gz / # buildkit|") {
		t.Errorf("no-trunc: %q", out.String())
	}

	out.Reset()
	if err := runHistory(context.Background(), api, &out, historyOptions{ref: "alpine", human: false, format: "{{.Size}} {{.CreatedSince}}"}); err != nil {
		t.Fatal(err)
	}
	first := "0 " + time.Unix(at.Add(-2*time.Hour).Unix(), 0).Format(time.RFC3339) + "\n"
	if !strings.HasPrefix(out.String(), first) {
		t.Errorf("non-human: %q", out.String())
	}
}

func TestRemove(t *testing.T) {
	d, api := newFakeDaemon(t)
	d.deletes["alpine:3.21"] = []image.DeleteResponse{{Untagged: "alpine:3.21"}}
	d.deletes["alpine"] = []image.DeleteResponse{
		{Untagged: "alpine:latest"},
		{Untagged: "alpine@" + dg1},
		{Deleted: idA},
		{Deleted: "sha256:08000c18d16dadf9553d747a58cf44023423a9ab010aab96cf263d2216b8b350"},
	}
	var out, errOut bytes.Buffer
	err := runRemove(context.Background(), api, &out, &errOut, removeOptions{refs: []string{"alpine:3.21", "nope", "alpine", "busy"}})
	want := "Untagged: alpine:3.21\nUntagged: alpine:latest\nUntagged: alpine@" + dg1 + "\nDeleted: " + idA +
		"\nDeleted: sha256:08000c18d16dadf9553d747a58cf44023423a9ab010aab96cf263d2216b8b350\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	wantErr := "Error response from daemon: No such image: nope\n" +
		`Error response from daemon: conflict: unable to remove repository reference "busy" (must force) - container 0123 is using its referenced image 4567`
	if err == nil || err.Error() != wantErr {
		t.Errorf("err = %v", err)
	}
	if d.query.Get("noprune") != "" || d.query.Get("force") != "" {
		t.Errorf("query %v", d.query)
	}

	// --force: a missing image is only reported; --no-prune is sent.
	out.Reset()
	err = runRemove(context.Background(), api, &out, &errOut, removeOptions{refs: []string{"nope"}, force: true, noPrune: true})
	if err != nil || errOut.String() != "Error response from daemon: No such image: nope\n" {
		t.Errorf("force: err %v, stderr %q", err, errOut.String())
	}
	if d.query.Get("noprune") != "1" || d.query.Get("force") != "1" {
		t.Errorf("query %v", d.query)
	}
	// ... but any other failure still fails.
	if err := runRemove(context.Background(), api, &out, &errOut, removeOptions{refs: []string{"busy"}, force: true}); err == nil {
		t.Error("force hid a conflict")
	}
}

func TestPrune(t *testing.T) {
	report := image.PruneReport{
		ImagesDeleted:  []image.DeleteResponse{{Untagged: "app:old"}, {Deleted: idB}, {Deleted: idC}},
		SpaceReclaimed: 123_456_789,
	}
	const deleted = "Deleted Images:\nuntagged: app:old\ndeleted: " + idB + "\ndeleted: " + idC + "\n\nTotal reclaimed space: 123.5MB\n"
	for _, tc := range []struct {
		name    string
		opts    pruneOptions
		input   string
		calls   int
		filters string
		wantOut string
	}{
		{name: "declined", input: "n\n", wantOut: pruneWarning + " [y/N] "},
		{name: "no input declines", wantOut: pruneWarning + " [y/N] "},
		{name: "confirmed", input: "y\n", calls: 1, filters: `{"dangling":{"true":true}}`,
			wantOut: pruneWarning + " [y/N] " + deleted},
		{name: "all asks the stronger question", opts: pruneOptions{all: true}, input: "N\n",
			wantOut: pruneAllWarning + " [y/N] "},
		{name: "forced all with filters", opts: pruneOptions{all: true, force: true, filters: client.Filters{}.Add("until", "24h")},
			calls: 1, filters: `{"dangling":{"false":true},"until":{"24h":true}}`, wantOut: deleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, api := newFakeDaemon(t)
			d.pruned = report
			var out bytes.Buffer
			if err := runPrune(context.Background(), api, strings.NewReader(tc.input), &out, tc.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wantOut {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.wantOut)
			}
			if d.calls != tc.calls {
				t.Errorf("%d calls, want %d", d.calls, tc.calls)
			}
			if tc.calls > 0 && d.query.Get("filters") != tc.filters {
				t.Errorf("filters %s, want %s", d.query.Get("filters"), tc.filters)
			}
		})
	}

	var out bytes.Buffer
	if err := writePruneReport(&out, image.PruneReport{SpaceReclaimed: 99}); err != nil || out.String() != "Total reclaimed space: 0B\n" {
		t.Errorf("nothing deleted: %q", out.String())
	}
}

func TestTag(t *testing.T) {
	d, api := newFakeDaemon(t)
	if err := runTag(context.Background(), api, "alpine", "localhost:5000/me/alpine"); err != nil {
		t.Fatal(err)
	}
	if d.path != "/images/alpine/tag" || d.query.Get("repo") != "localhost:5000/me/alpine" || d.query.Get("tag") != "latest" {
		t.Errorf("%s %v", d.path, d.query)
	}
	err := runTag(context.Background(), api, "alpine", "Bad:Name")
	if err == nil || !strings.Contains(err.Error(), `"Bad:Name" is not a valid repository/tag`) {
		t.Errorf("err = %v", err)
	}
}

func TestImageNames(t *testing.T) {
	got := imageNames(sampleImages(time.Now()), []string{"alpine:3.21"})
	want := []string{"alpine:latest", "registry.example.com:5000/team/app:v1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v", got)
	}
}
