package formatter

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/berth-engine/berth/cmd/berth/command"
)

type item struct{ N, D string }

func (i item) Name() string   { return i.N }
func (i item) Driver() string { return i.D }

type itemHeader struct{}

func (itemHeader) Name() string   { return "VOLUME NAME" }
func (itemHeader) Driver() string { return "DRIVER" }

var items = []item{{"a", "local"}, {"a-much-longer-name", "local"}}

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name, format, want string
	}{
		{"table", "table {{.Driver}}\t{{.Name}}",
			"DRIVER    VOLUME NAME\nlocal     a\nlocal     a-much-longer-name\n"},
		{"escaped tab as typed on a shell", `table {{.Name}}\t{{.Driver}}`,
			"VOLUME NAME          DRIVER\na                    local\na-much-longer-name   local\n"},
		{"header ignores functions", "table {{upper .Name}}",
			"VOLUME NAME\nA\nA-MUCH-LONGER-NAME\n"},
		{"raw template", "{{.Name}}:{{.Driver}}", "a:local\na-much-longer-name:local\n"},
		{"json shorthand", " json ", `{"N":"a","D":"local"}` + "\n" + `{"N":"a-much-longer-name","D":"local"}` + "\n"},
		{"functions", `{{join (split .Name "-") "+"}} {{title .Driver}} {{truncate .Name 3}}|{{pad .Name 1 1}}|`,
			"a Local a| a |\na+much+longer+name Local a-m| a-much-longer-name |\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, tc.format, itemHeader{}, items); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestWriteEmptyTableStillHasHeader(t *testing.T) {
	var out bytes.Buffer
	if err := Write(&out, "table {{.Driver}}\t{{.Name}}", itemHeader{}, []item{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "DRIVER    VOLUME NAME\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestWriteErrors(t *testing.T) {
	var out bytes.Buffer
	err := Write(&out, "{{", itemHeader{}, items)
	if err == nil || err.Error() != "template parsing error: template: :1: unclosed action" {
		t.Errorf("parse: %v", err)
	}
	err = Write(&out, "{{.Name}} {{.Nope}}", itemHeader{}, items)
	if err == nil || !strings.HasPrefix(err.Error(), `template parsing error: template: :1:12: executing "" at <.Nope>: can't evaluate field Nope`) {
		t.Errorf("exec: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("a failed template wrote %q", out.String())
	}
}

func TestInspect(t *testing.T) {
	get := func(ref string) (any, error) {
		if ref == "missing" {
			return nil, errors.New("Error response from daemon: get missing: no such volume")
		}
		return map[string]any{"Name": ref, "Labels": map[string]string{"a": "<b>"}}, nil
	}
	for _, tc := range []struct {
		name, format string
		refs         []string
		want         string
		status       int
	}{
		{"indented", "", []string{"x"},
			"[\n    {\n        \"Labels\": {\n            \"a\": \"\\u003cb\\u003e\"\n        },\n        \"Name\": \"x\"\n    }\n]\n", 0},
		{"json on one line", "json", []string{"x", "y"},
			`[{"Labels":{"a":"\u003cb\u003e"},"Name":"x"},{"Labels":{"a":"\u003cb\u003e"},"Name":"y"}]` + "\n", 0},
		{"template", "{{.Name}} {{json .Labels}}", []string{"x", "y"}, "x {\"a\":\"<b>\"}\ny {\"a\":\"<b>\"}\n", 0},
		{"missing keeps the rest", "{{.Name}}", []string{"missing", "y"}, "y\n", 1},
		{"nothing found", "", []string{"missing"}, "[]\n", 1},
		{"nothing found, template", "{{.Name}}", []string{"missing"}, "\n", 1},
		{"bad template", "{{", []string{"x"}, "", TemplateParseStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Inspect(&out, tc.format, tc.refs, get)
			if got := command.ExitCode(err); got != tc.status {
				t.Errorf("exit status %d, want %d (%v)", got, tc.status, err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestInspectJoinsErrors(t *testing.T) {
	err := Inspect(&bytes.Buffer{}, "", []string{"a", "b"}, func(ref string) (any, error) {
		return nil, errors.New("no " + ref)
	})
	if err == nil || err.Error() != "no a\nno b" {
		t.Errorf("got %v", err)
	}
}

// A template the typed object cannot answer is run again on its JSON, as
// docker's raw fallback: fields the type lacks are found, and a missing key
// is docker's "map has no entry" error.
func TestInspectRawFallback(t *testing.T) {
	type typed struct{ Name string }
	objs := map[string]any{
		"typed": typed{Name: "t"},
		"raw":   json.RawMessage(`{"Name":"r","Extra":{"N":12345678901}}`),
	}
	get := func(ref string) (any, error) { return objs[ref], nil }
	var out bytes.Buffer
	if err := Inspect(&out, "{{.Extra.N}}", []string{"raw"}, get); err != nil || out.String() != "12345678901\n" {
		t.Errorf("raw fallback: %q, %v", out.String(), err)
	}
	out.Reset()
	err := Inspect(&out, "{{.State.Status}}", []string{"typed"}, get)
	if err == nil || !strings.Contains(err.Error(), `template parsing error: template: :1:8: executing "" at <.State.Status>: map has no entry for key "State"`) {
		t.Errorf("missing key: %v", err)
	}
}
