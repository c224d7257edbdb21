package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// TemplateParseStatus is the exit status docker uses for a --format that
// does not parse (sysexits' EX_USAGE).
const TemplateParseStatus = 64

// Inspect writes the objects get returns for refs as docker's inspect
// commands do: by default an array indented by 4 spaces, with "json" the
// same array on one line, otherwise format executed once per object.
// Objects that cannot be fetched are skipped and their errors returned
// together after the rest is written, so one bad name does not hide the
// others.
func Inspect(out io.Writer, format string, refs []string, get func(ref string) (any, error)) error {
	var tmpl *template.Template
	if format != "" && format != JSONKey {
		t, err := Parse("", format)
		if err != nil {
			return command.StatusError{Status: err.Error(), StatusCode: TemplateParseStatus}
		}
		tmpl = t
	}

	var (
		elems []any
		text  bytes.Buffer
		errs  []string
	)
	for _, ref := range refs {
		v, err := get(ref)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if tmpl == nil {
			elems = append(elems, v)
			continue
		}
		var one bytes.Buffer
		if err := tmpl.Execute(&one, v); err != nil {
			// As docker, try again on the object's JSON decoded into
			// maps, which knows fields the typed value lacks.
			one.Reset()
			if err := executeRaw(tmpl, &one, v); err != nil {
				errs = append(errs, err.Error())
				continue
			}
		}
		text.Write(one.Bytes())
		text.WriteByte('\n')
	}

	switch {
	case tmpl != nil:
		if text.Len() == 0 {
			text.WriteByte('\n')
		}
		_, _ = text.WriteTo(out)
	case len(elems) == 0:
		_, _ = io.WriteString(out, "[]\n")
	default:
		var b []byte
		var err error
		if format == JSONKey {
			b, err = json.Marshal(elems)
		} else {
			b, err = json.MarshalIndent(elems, "", "    ")
		}
		if err != nil {
			return err
		}
		_, _ = out.Write(append(b, '\n'))
	}
	if len(errs) > 0 {
		return command.StatusError{Status: strings.Join(errs, "\n"), StatusCode: 1}
	}
	return nil
}

// executeRaw runs tmpl on v's JSON form (maps, numbers kept as written)
// with missing keys an error, as docker's raw inspect fallback does.
func executeRaw(tmpl *template.Template, out io.Writer, v any) error {
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return fmt.Errorf("unable to read inspect data: %v", err)
		}
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("unable to read inspect data: %v", err)
	}
	t, err := tmpl.Clone()
	if err != nil {
		return fmt.Errorf("template parsing error: %v", err)
	}
	if err := t.Option("missingkey=error").Execute(out, raw); err != nil {
		return fmt.Errorf("template parsing error: %v", err)
	}
	return nil
}
