// Package image implements `berth image` (ls, inspect, history, rm, prune,
// tag, load, save, import, pull, push) and docker's top-level shortcuts for
// them (`berth images`, `berth rmi`, `berth pull`, ...), with the docker
// CLI's flags and output. The run* functions hold the logic; cmd.go only
// wires them to cobra.
package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/stringid"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

const (
	defaultListFormat           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	defaultListFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	quietFormat                 = "{{.ID}}"
	none                        = "<none>"
)

// now is the clock "2 hours ago" is measured against; tests stop it.
var now = time.Now

type listOptions struct {
	match   string // the optional REPOSITORY[:TAG] argument
	all     bool
	digests bool
	noTrunc bool
	quiet   bool
	format  string
	filters client.Filters
}

// runList prints the images in the order the daemon gave them, one row per
// repository and tag (and per digest with --digests), as docker does.
func runList(ctx context.Context, api client.ImageAPIClient, out io.Writer, opts listOptions) error {
	filters := opts.filters.Clone()
	if opts.match != "" {
		filters.Add("reference", opts.match)
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: opts.all, Filters: filters})
	if err != nil {
		return err
	}
	format := listFormat(opts.format, opts.quiet, opts.digests)
	wantDigest := opts.digests || strings.Contains(format, "{{.Digest}}")
	var rows []listRow
	for _, img := range res.Items {
		rows = append(rows, imageRows(img, !opts.noTrunc, wantDigest, opts.digests)...)
	}
	return formatter.Write(out, format, listHeader{}, rows)
}

// listFormat is docker's NewImageFormat: -q and --digests pick among the
// default tables; a custom table gets a DIGEST column with --digests.
func listFormat(format string, quiet, digests bool) string {
	switch format {
	case "", formatter.TableKey:
		switch {
		case quiet:
			return quietFormat
		case digests:
			return defaultListFormatWithDigest
		}
		return defaultListFormat
	}
	if formatter.IsTable(format) && digests && !strings.Contains(format, "{{.Digest}}") {
		format += "\t{{.Digest}}"
	}
	return format
}

// imageRows expands one image into its rows: "<none>" for a dangling
// image, else a row per repository:tag (times each digest of that
// repository when digests are wanted), then a row per repository that is
// known only by digest.
func imageRows(img image.Summary, trunc, wantDigest, showDigests bool) []listRow {
	row := func(repo, tag, digest string) listRow {
		return listRow{i: img, trunc: trunc, repo: repo, tag: tag, digest: digest}
	}
	if isDangling(img) {
		return []listRow{row(none, none, none)}
	}
	type repo struct {
		name          string
		tags, digests []string
	}
	var repos []*repo
	get := func(name string) *repo {
		for _, r := range repos {
			if r.name == name {
				return r
			}
		}
		r := &repo{name: name}
		repos = append(repos, r)
		return r
	}
	for _, s := range img.RepoTags {
		ref, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if t, ok := ref.(reference.NamedTagged); ok {
			r := get(reference.FamiliarName(ref))
			r.tags = append(r.tags, t.Tag())
		}
	}
	for _, s := range img.RepoDigests {
		ref, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if c, ok := ref.(reference.Canonical); ok {
			r := get(reference.FamiliarName(ref))
			r.digests = append(r.digests, c.Digest().String())
		}
	}
	var rows []listRow
	for _, r := range repos {
		if len(r.tags) == 0 {
			continue
		}
		digests := r.digests
		if !wantDigest {
			digests = nil
		}
		for _, tag := range r.tags {
			if len(digests) == 0 {
				rows = append(rows, row(r.name, tag, none))
			}
			for _, d := range digests {
				rows = append(rows, row(r.name, tag, d))
			}
		}
	}
	for _, r := range repos {
		if len(r.tags) > 0 {
			continue
		}
		if !showDigests {
			rows = append(rows, row(r.name, none, ""))
			continue
		}
		for _, d := range r.digests {
			rows = append(rows, row(r.name, none, d))
		}
	}
	return rows
}

func isDangling(img image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" &&
		len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

// listRow is one row of `image ls` as --format templates see it: docker's
// field names, all strings.
type listRow struct {
	i      image.Summary
	trunc  bool
	repo   string
	tag    string
	digest string
}

func (r listRow) ID() string {
	if r.trunc {
		return stringid.TruncateID(r.i.ID)
	}
	return r.i.ID
}

func (r listRow) Repository() string { return r.repo }
func (r listRow) Tag() string        { return r.tag }
func (r listRow) Digest() string     { return r.digest }

func (r listRow) CreatedSince() string {
	return units.HumanDuration(now().UTC().Sub(time.Unix(r.i.Created, 0))) + " ago"
}

func (r listRow) CreatedAt() string { return time.Unix(r.i.Created, 0).String() }

func (r listRow) Size() string { return units.HumanSizeWithPrecision(float64(r.i.Size), 3) }

func (r listRow) Containers() string {
	if r.i.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(r.i.Containers, 10)
}

// VirtualSize is docker's deprecated synonym of Size, kept for templates.
func (r listRow) VirtualSize() string { return units.HumanSize(float64(r.i.Size)) }

func (r listRow) SharedSize() string {
	if r.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.i.SharedSize))
}

func (r listRow) UniqueSize() string {
	if r.i.Size == -1 || r.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.i.Size - r.i.SharedSize))
}

// MarshalJSON gives {{json .}} and --format json docker's object: every
// field above, by name.
func (r listRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Containers":   r.Containers(),
		"CreatedAt":    r.CreatedAt(),
		"CreatedSince": r.CreatedSince(),
		"Digest":       r.Digest(),
		"ID":           r.ID(),
		"Repository":   r.Repository(),
		"SharedSize":   r.SharedSize(),
		"Size":         r.Size(),
		"Tag":          r.Tag(),
		"UniqueSize":   r.UniqueSize(),
		"VirtualSize":  r.VirtualSize(),
	})
}

// listHeader answers the same templates as listRow with the column titles.
type listHeader struct{}

func (listHeader) ID() string           { return "IMAGE ID" }
func (listHeader) Repository() string   { return "REPOSITORY" }
func (listHeader) Tag() string          { return "TAG" }
func (listHeader) Digest() string       { return "DIGEST" }
func (listHeader) CreatedSince() string { return "CREATED" }
func (listHeader) CreatedAt() string    { return "CREATED AT" }
func (listHeader) Size() string         { return "SIZE" }
func (listHeader) Containers() string   { return "CONTAINERS" }
func (listHeader) VirtualSize() string  { return "SIZE" }
func (listHeader) SharedSize() string   { return "SHARED SIZE" }
func (listHeader) UniqueSize() string   { return "UNIQUE SIZE" }

type inspectOptions struct {
	refs   []string
	format string
}

// runInspect prints each image as the daemon described it. By default and
// with "json" that is the daemon's own JSON, re-indented, so fields the
// client library does not know survive. A template runs on the typed
// object and, if it fails there (say {{.Id}}, the JSON name), on the raw
// JSON, as in docker. Images that cannot be fetched are reported together
// at the end and make the command fail.
func runInspect(ctx context.Context, api client.ImageAPIClient, out io.Writer, opts inspectOptions) error {
	fetch := func(ref string) (image.InspectResponse, []byte, error) {
		var raw bytes.Buffer
		res, err := api.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
		return res.InspectResponse, raw.Bytes(), err
	}
	if opts.format != "" && opts.format != formatter.JSONKey {
		tmpl, perr := formatter.Parse("", opts.format)
		return formatter.Inspect(out, opts.format, opts.refs, func(ref string) (any, error) {
			typed, raw, err := fetch(ref)
			if err != nil {
				return nil, err
			}
			if perr != nil || tmpl.Execute(io.Discard, typed) == nil {
				return typed, nil
			}
			var generic any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&generic); err != nil {
				return nil, fmt.Errorf("unable to read inspect data: %w", err)
			}
			return generic, nil
		})
	}

	var (
		elems [][]byte
		errs  []string
	)
	for _, ref := range opts.refs {
		_, raw, err := fetch(ref)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		elems = append(elems, bytes.TrimSpace(raw))
	}
	all := append(append([]byte("["), bytes.Join(elems, []byte(","))...), ']')
	var b bytes.Buffer
	var err error
	if opts.format == formatter.JSONKey {
		err = json.Compact(&b, all)
	} else {
		err = json.Indent(&b, all, "", "    ")
	}
	if err != nil {
		return err
	}
	b.WriteByte('\n')
	_, _ = b.WriteTo(out)
	if len(errs) > 0 {
		return command.StatusError{Status: strings.Join(errs, "\n"), StatusCode: 1}
	}
	return nil
}

const (
	defaultHistoryFormat  = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	nonHumanHistoryFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

type historyOptions struct {
	ref     string
	human   bool
	noTrunc bool
	quiet   bool
	format  string
}

// runHistory prints an image's layers, newest first, as the daemon lists
// them.
func runHistory(ctx context.Context, api client.ImageAPIClient, out io.Writer, opts historyOptions) error {
	res, err := api.ImageHistory(ctx, opts.ref)
	if err != nil {
		return err
	}
	format := opts.format
	if format == "" || format == formatter.TableKey {
		switch {
		case opts.quiet:
			format = quietFormat
		case !opts.human:
			format = nonHumanHistoryFormat
		default:
			format = defaultHistoryFormat
		}
	}
	rows := make([]historyRow, len(res.Items))
	for i, h := range res.Items {
		rows[i] = historyRow{h: h, trunc: !opts.noTrunc, human: opts.human}
	}
	return formatter.Write(out, format, historyHeader{}, rows)
}

// historyRow is one layer as --format templates see it.
type historyRow struct {
	h     image.HistoryResponseItem
	trunc bool
	human bool
}

// ID is the layer's image ID; layers that are not images of their own
// (pulled ones, most of them) have none and show as <missing>.
func (r historyRow) ID() string {
	id := r.h.ID
	if id == "" {
		id = "<missing>"
	}
	if r.trunc {
		return stringid.TruncateID(id)
	}
	return id
}

func (r historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

// historyEpoch: layers dated before it (a reproducible build's zero time)
// have no "ago", as in docker.
var historyEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func (r historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	if r.h.Created <= historyEpoch {
		return ""
	}
	return units.HumanDuration(now().UTC().Sub(time.Unix(r.h.Created, 0))) + " ago"
}

func (r historyRow) CreatedBy() string {
	s := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(s, 45)
	}
	return s
}

func (r historyRow) Size() string {
	if r.human {
		return units.HumanSizeWithPrecision(float64(r.h.Size), 3)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

func (r historyRow) Comment() string { return r.h.Comment }

func (r historyRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Comment":      r.Comment(),
		"CreatedAt":    r.CreatedAt(),
		"CreatedBy":    r.CreatedBy(),
		"CreatedSince": r.CreatedSince(),
		"ID":           r.ID(),
		"Size":         r.Size(),
	})
}

type historyHeader struct{}

func (historyHeader) ID() string           { return "IMAGE" }
func (historyHeader) CreatedAt() string    { return "CREATED AT" }
func (historyHeader) CreatedSince() string { return "CREATED" }
func (historyHeader) CreatedBy() string    { return "CREATED BY" }
func (historyHeader) Size() string         { return "SIZE" }
func (historyHeader) Comment() string      { return "COMMENT" }

// ellipsis shortens s to n characters, the last one "…".
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

type removeOptions struct {
	refs    []string
	force   bool
	noPrune bool
}

// runRemove removes each image, printing what the daemon untagged and
// deleted. It goes on past failures, like docker, and returns them all
// joined; with --force, images that do not exist are only reported on
// errOut and do not fail the command.
func runRemove(ctx context.Context, api client.ImageAPIClient, out, errOut io.Writer, opts removeOptions) error {
	var (
		errs  []error
		fatal bool
	)
	for _, ref := range opts.refs {
		res, err := api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: opts.force, PruneChildren: !opts.noPrune})
		if err != nil {
			if !cerrdefs.IsNotFound(err) {
				fatal = true
			}
			errs = append(errs, err)
			continue
		}
		for _, d := range res.Items {
			if d.Deleted != "" {
				fmt.Fprintln(out, "Deleted:", d.Deleted)
			} else {
				fmt.Fprintln(out, "Untagged:", d.Untagged)
			}
		}
	}
	err := errors.Join(errs...)
	if err != nil && opts.force && !fatal {
		fmt.Fprintln(errOut, err)
		return nil
	}
	return err
}

const (
	pruneWarning = `WARNING! This will remove all dangling images.
Are you sure you want to continue?`
	pruneAllWarning = `WARNING! This will remove all images without at least one container associated to them.
Are you sure you want to continue?`
)

type pruneOptions struct {
	all     bool
	force   bool
	filters client.Filters
}

// runPrune removes dangling (or, with all, unused) images after asking
// unless force, then prints what went and the space reclaimed. Declining
// prints nothing more and is not an error.
func runPrune(ctx context.Context, api client.ImageAPIClient, in io.Reader, out io.Writer, opts pruneOptions) error {
	filters := opts.filters.Clone()
	filters.Add("dangling", strconv.FormatBool(!opts.all))
	if !opts.force {
		warning := pruneWarning
		if opts.all {
			warning = pruneAllWarning
		}
		if !command.Confirm(in, out, warning) {
			return nil
		}
	}
	res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	return writePruneReport(out, res.Report)
}

func writePruneReport(out io.Writer, rep image.PruneReport) error {
	var b strings.Builder
	var reclaimed uint64
	if len(rep.ImagesDeleted) > 0 {
		b.WriteString("Deleted Images:\n")
		for _, d := range rep.ImagesDeleted {
			if d.Untagged != "" {
				b.WriteString("untagged: " + d.Untagged + "\n")
			} else {
				b.WriteString("deleted: " + d.Deleted + "\n")
			}
		}
		b.WriteString("\n")
		reclaimed = rep.SpaceReclaimed
	}
	b.WriteString("Total reclaimed space: " + units.HumanSize(float64(reclaimed)) + "\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// runTag makes target another name of source; it prints nothing.
func runTag(ctx context.Context, api client.ImageAPIClient, source, target string) error {
	_, err := api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target})
	return err
}

// imageNames lists the images' repo:tag names for completion, less
// "<none>:<none>" and the names in skip.
func imageNames(images []image.Summary, skip []string) []cobra.Completion {
	var names []cobra.Completion
	for _, img := range images {
		for _, t := range img.RepoTags {
			if t != "<none>:<none>" && !slices.Contains(skip, t) && !slices.Contains(names, t) {
				names = append(names, t)
			}
		}
	}
	return names
}
