// Package formatter renders --format templates the way the docker CLI does:
// the same template functions, the "table" and "json" shorthands, the same
// column layout, and the same inspect output, so scripts written against
// docker work against berth unchanged.
package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

const (
	// TableKey starts a format that is rendered as aligned columns with a
	// header row.
	TableKey = "table"
	// JSONKey is shorthand for JSONFormat.
	JSONKey = "json"
	// JSONFormat prints each item as one line of JSON.
	JSONFormat = "{{json .}}"
)

// Funcs are the docker CLI's template functions.
var Funcs = template.FuncMap{
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	//nolint:staticcheck // docker uses strings.Title; keep its output.
	"title":    strings.Title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
}

// headerFuncs replace Funcs while the header row is rendered: a column
// written as {{upper .Name}} is still headed "VOLUME NAME".
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v string, _ string) string { return v },
	"join":     func(v string, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

func truncate(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// Parse parses a template with Funcs. Its error is worded as docker's.
func Parse(name, format string) (*template.Template, error) {
	tmpl, err := template.New(name).Funcs(Funcs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return tmpl, nil
}

// IsTable reports whether format asks for a table.
func IsTable(format string) bool { return strings.HasPrefix(format, TableKey) }

// Write renders each row through format, one line per row. A "table"
// format is aligned in columns under a header row, which is the same
// template executed on header (a value with the row's fields or methods
// returning column titles). Nothing is written if any row fails, so a bad
// template never leaves half a listing behind.
func Write[T any](out io.Writer, format string, header any, rows []T) error {
	table := IsTable(format)
	final := format
	switch {
	case table:
		final = final[len(TableKey):]
	case strings.TrimSpace(format) == JSONKey:
		final = JSONFormat
	}
	final = strings.Trim(final, " ")
	final = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(final)

	tmpl, err := Parse("", final)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&body, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteByte('\n')
	}
	if !table {
		_, err := body.WriteTo(out)
		return err
	}
	var head bytes.Buffer
	if ht, err := tmpl.Clone(); err == nil {
		// A header that cannot be rendered (say {{json .}}) is left partial,
		// as docker leaves it; the rows are what matter.
		_ = ht.Funcs(headerFuncs).Execute(&head, header)
	}
	head.WriteByte('\n')
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	_, _ = tw.Write(head.Bytes())
	_, _ = body.WriteTo(tw)
	return tw.Flush()
}

// Help is the --format flag's help text, the same for every list command.
const Help = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`
