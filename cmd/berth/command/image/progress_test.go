package image

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// loadStream is what a daemon sends for `load` of a two-layer image.
const loadStream = `{"status":"Loading layer","progressDetail":{"current":512,"total":1024},"id":"8e012198eea1"}
{"status":"Loading layer","progressDetail":{"current":1024,"total":1024},"id":"8e012198eea1"}
{"status":"Loading layer","progressDetail":{"current":2048,"total":4096},"id":"3d2430473443"}
{"status":"Loading layer","progressDetail":{"current":4096,"total":4096},"id":"3d2430473443"}
{"stream":"Loaded image: alpine:latest\n"}
`

func TestRenderPlain(t *testing.T) {
	var out bytes.Buffer
	if err := renderStream(strings.NewReader(loadStream), &out, false, 0, nil); err != nil {
		t.Fatal(err)
	}
	// Off a terminal, byte counts are dropped; the rest is one line each.
	if out.String() != "Loaded image: alpine:latest\n" {
		t.Errorf("got %q", out.String())
	}

	pull := `{"status":"Pulling from library/alpine","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"f18232174bc9"}
{"status":"Downloading","progressDetail":{"current":1,"total":3},"id":"f18232174bc9"}
{"status":"Pull complete","progressDetail":{},"id":"f18232174bc9"}
{"aux":{"ID":"sha256:aded"}}
{"status":"Digest: sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c"}
{"status":"Status: Downloaded newer image for alpine:latest"}
`
	out.Reset()
	var aux []string
	err := renderStream(strings.NewReader(pull), &out, false, 0, func(m json.RawMessage) { aux = append(aux, string(m)) })
	if err != nil {
		t.Fatal(err)
	}
	want := `latest: Pulling from library/alpine
f18232174bc9: Pulling fs layer
f18232174bc9: Pull complete
Digest: sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c
Status: Downloaded newer image for alpine:latest
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if len(aux) != 1 || aux[0] != `{"ID":"sha256:aded"}` {
		t.Errorf("aux %v", aux)
	}
}

func TestRenderTerminal(t *testing.T) {
	var out bytes.Buffer
	if err := renderStream(strings.NewReader(loadStream), &out, true, 120, nil); err != nil {
		t.Fatal(err)
	}
	half := "[" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 25) + "] "
	full := "[" + strings.Repeat("=", 50) + ">] "
	want := "" +
		// a new line for the first layer, up to it, draw, back down
		"\n\x1b[1A\x1b[2K\r8e012198eea1: Loading layer " + half + "    512B/1.024kB\r\x1b[1B" +
		"\x1b[1A\x1b[2K\r8e012198eea1: Loading layer " + full + " 1.024kB/1.024kB\r\x1b[1B" +
		// a second line for the second layer
		"\n\x1b[1A\x1b[2K\r3d2430473443: Loading layer " + half + " 2.048kB/4.096kB\r\x1b[1B" +
		"\x1b[1A\x1b[2K\r3d2430473443: Loading layer " + full + " 4.096kB/4.096kB\r\x1b[1B" +
		"Loaded image: alpine:latest\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}

	// Going back to the first of two lines moves up two.
	out.Reset()
	two := `{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"a"}
{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"b"}
{"status":"Done","progressDetail":{},"id":"a"}
`
	if err := renderStream(strings.NewReader(two), &out, true, 80, nil); err != nil {
		t.Fatal(err)
	}
	want = "\n\x1b[1A\x1b[2K\ra: Downloading       1B/2B\r\x1b[1B" +
		"\n\x1b[1A\x1b[2K\rb: Downloading       1B/2B\r\x1b[1B" +
		"\x1b[2A\x1b[2K\ra: Done \r\x1b[2B"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestRenderError(t *testing.T) {
	for _, stream := range []string{
		`{"status":"Pushing"}` + "\n" + `{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied: requested access to the resource is denied"}` + "\n" + `{"status":"never shown"}`,
		`{"status":"Pushing"}` + "\n" + `{"error":"denied: requested access to the resource is denied"}`,
	} {
		var out bytes.Buffer
		err := renderStream(strings.NewReader(stream), &out, false, 0, nil)
		if err == nil || err.Error() != "denied: requested access to the resource is denied" || command.ExitCode(err) != 1 {
			t.Errorf("err = %v", err)
		}
		if out.String() != "Pushing\n" {
			t.Errorf("out %q", out.String())
		}
	}

	if err := renderStream(strings.NewReader(`{"status":`), &bytes.Buffer{}, false, 0, nil); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestRenderNotJSON(t *testing.T) {
	var out bytes.Buffer
	if err := renderStream(strings.NewReader("Loaded image: x\n"), &out, false, 0, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Loaded image: x\n" {
		t.Errorf("got %q", out.String())
	}
	out.Reset()
	if err := renderStream(strings.NewReader(""), &out, false, 0, nil); err != nil || out.Len() != 0 {
		t.Errorf("empty: %q %v", out.String(), err)
	}
}

func TestProgressBar(t *testing.T) {
	at := stopClock(t)
	for _, tc := range []struct {
		p     jsonstream.Progress
		width uint16
		want  string
	}{
		{jsonstream.Progress{}, 200, ""},
		{jsonstream.Progress{Current: 2048}, 200, " 2.048kB"},
		{jsonstream.Progress{Current: 3, Units: "layers"}, 200, "3 layers"},
		{jsonstream.Progress{Current: 1, Total: 4}, 80, "      1B/4B"},
		{jsonstream.Progress{Current: 1, Total: 4}, 40, "      1B/4B"},
		{jsonstream.Progress{Current: 5, Total: 4}, 80, "      5B"},
		{jsonstream.Progress{Current: 1, Total: 4, HideCounts: true}, 80, ""},
		{jsonstream.Progress{Current: 1, Total: 4, Units: "files"}, 80, "1/4 files"},
		// Ten seconds for a quarter: thirty to go.
		{jsonstream.Progress{Current: 1000, Total: 4000, Start: at.Add(-10 * time.Second).Unix()}, 80, "     1kB/4kB 30s"},
		{jsonstream.Progress{Current: 1000, Total: 4000, Start: at.Add(-10 * time.Second).Unix()}, 50, "     1kB/4kB"},
		{jsonstream.Progress{Current: 1000, Total: 4000}, 111,
			"[" + strings.Repeat("=", 12) + ">" + strings.Repeat(" ", 38) + "]      1kB/4kB"},
	} {
		if got := progressBar(tc.p, tc.width); got != tc.want {
			t.Errorf("%+v at %d: got %q want %q", tc.p, tc.width, got, tc.want)
		}
	}
}
