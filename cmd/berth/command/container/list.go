package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

const (
	psTableFormat     = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	psTableSizeFormat = psTableFormat + "\t{{.Size}}"
	psQuietFormat     = "{{.ID}}"
)

type psOptions struct {
	all, quiet, size, noTrunc, latest bool
	sizeChanged                       bool
	last                              int
	format                            string
	filters                           client.Filters
}

// runPs lists containers as `docker ps` does.
func runPs(ctx context.Context, api client.ContainerAPIClient, out io.Writer, o psOptions) error {
	list := client.ContainerListOptions{All: o.all, Limit: o.last, Size: o.size, Filters: o.filters}
	if o.latest && o.last == -1 {
		list.Limit = 1
	}
	format := psFormat(o)
	if o.format != "" && !o.quiet && !o.size && !o.sizeChanged && strings.Contains(format, ".Size") {
		list.Size = true
	}
	if _, err := formatter.Parse("", format); err != nil {
		return fmt.Errorf("failed to parse template: %w", err)
	}
	res, err := api.ContainerList(ctx, list)
	if err != nil {
		return err
	}
	rows := make([]psRow, len(res.Items))
	for i, c := range res.Items {
		rows[i] = psRow{c: c, trunc: !o.noTrunc, now: time.Now()}
	}
	return formatter.Write(out, format, psHeader{}, rows)
}

func psFormat(o psOptions) string {
	switch {
	case o.quiet && (o.format == "" || o.format == formatter.TableKey):
		return psQuietFormat
	case o.format == "" || o.format == formatter.TableKey:
		if o.size {
			return psTableSizeFormat
		}
		return psTableFormat
	}
	return o.format
}

// psRow is a container as `ps --format` templates see it: docker's
// ContainerContext.
type psRow struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

// truncateID shortens an ID (with or without "sha256:") to 12 characters.
func truncateID(id string) string {
	if _, after, ok := strings.Cut(id, ":"); ok {
		id = after
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis shortens s to max runes, the last one an ellipsis, as docker's
// formatter.Ellipsis does for single-width text.
func ellipsis(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	if max == 1 {
		return string(rs[0])
	}
	return string(rs[:max-1]) + "…"
}

func (r psRow) ID() string {
	if r.trunc {
		return truncateID(r.c.ID)
	}
	return r.c.ID
}

func (r psRow) Image() string {
	if r.c.Image == "" {
		return "<no image>"
	}
	if !r.trunc {
		return r.c.Image
	}
	if t := truncateID(r.c.ImageID); t != "" && t == truncateID(r.c.Image) {
		return t
	}
	ref, err := reference.ParseNormalizedNamed(r.c.Image)
	if err != nil {
		return r.c.Image
	}
	if _, ok := ref.(reference.Digested); ok {
		var tag string
		if t, ok := ref.(reference.Tagged); ok {
			tag = t.Tag()
		}
		ref = reference.TrimNamed(ref)
		if tag != "" {
			if out, err := reference.WithTag(ref, tag); err == nil {
				ref = out
			}
		}
	}
	return reference.FamiliarString(ref)
}

func (r psRow) Command() string {
	cmd := r.c.Command
	if r.trunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

func (r psRow) CreatedAt() string { return time.Unix(r.c.Created, 0).String() }

func (r psRow) RunningFor() string {
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.c.Created, 0))) + " ago"
}

func (r psRow) Ports() string { return displayablePorts(r.c.Ports) }

func (r psRow) State() string  { return string(r.c.State) }
func (r psRow) Status() string { return r.c.Status }

func (r psRow) Size() string {
	srw := units.HumanSizeWithPrecision(float64(r.c.SizeRw), 3)
	if r.c.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", srw, units.HumanSizeWithPrecision(float64(r.c.SizeRootFs), 3))
	}
	return srw
}

func (r psRow) Names() string {
	names := make([]string, 0, len(r.c.Names))
	for _, n := range r.c.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	if r.trunc {
		for _, n := range names {
			if !strings.Contains(n, "/") {
				names = []string{n}
				break
			}
		}
	}
	return strings.Join(names, ",")
}

func (r psRow) Labels() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.c.Labels)) {
		out = append(out, k+"="+r.c.Labels[k])
	}
	return strings.Join(out, ",")
}

func (r psRow) Label(name string) string { return r.c.Labels[name] }

func (r psRow) Mounts() string {
	out := make([]string, 0, len(r.c.Mounts))
	for _, m := range r.c.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if r.trunc {
			name = ellipsis(name, 15)
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

func (r psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

func (r psRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	return strings.Join(slices.Sorted(maps.Keys(r.c.NetworkSettings.Networks)), ",")
}

// MarshalJSON is `ps --format json`: every field above by name.
func (r psRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"Command": r.Command(), "CreatedAt": r.CreatedAt(), "ID": r.ID(), "Image": r.Image(),
		"Labels": r.Labels(), "LocalVolumes": r.LocalVolumes(), "Mounts": r.Mounts(), "Names": r.Names(),
		"Networks": r.Networks(), "Platform": r.Platform(), "Ports": r.Ports(), "RunningFor": r.RunningFor(),
		"Size": r.Size(), "State": r.State(), "Status": r.Status(),
	})
}

// Platform is the platform of the image's manifest, when the daemon
// tells it (null in JSON otherwise, as docker's).
func (r psRow) Platform() *ocispec.Platform {
	if d := r.c.ImageManifestDescriptor; d != nil {
		return d.Platform
	}
	return nil
}

// psHeader answers the ps templates with the column titles.
type psHeader struct{}

func (psHeader) ID() string         { return "CONTAINER ID" }
func (psHeader) Image() string      { return "IMAGE" }
func (psHeader) Command() string    { return "COMMAND" }
func (psHeader) CreatedAt() string  { return "CREATED AT" }
func (psHeader) RunningFor() string { return "CREATED" }
func (psHeader) Ports() string      { return "PORTS" }
func (psHeader) State() string      { return "STATE" }
func (psHeader) Status() string     { return "STATUS" }
func (psHeader) Size() string       { return "SIZE" }
func (psHeader) Names() string      { return "NAMES" }
func (psHeader) Labels() string     { return "LABELS" }
func (psHeader) Platform() string   { return "PLATFORM" }

// Label's title is the label's last dotted part, as docker's.
func (psHeader) Label(name string) string {
	return formatter.LabelTitle(name)
}
func (psHeader) Mounts() string               { return "MOUNTS" }
func (psHeader) LocalVolumes() string         { return "LOCAL VOLUMES" }
func (psHeader) Networks() string             { return "NETWORKS" }
func (psHeader) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

// displayablePorts is docker's: consecutive ports of one IP and protocol
// grouped into ranges, published ports as ip:public->private/proto.
func displayablePorts(in []container.PortSummary) string {
	type group struct{ first, last uint16 }
	ports := slices.Clone(in)
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.String() < b.IP.String()
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	groups := map[string]*group{}
	var result, hostMappings, keys []string
	for _, p := range ports {
		cur := p.PrivatePort
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != cur {
				hostMappings = append(hostMappings, fmt.Sprintf("%s->%d/%s",
					net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		if g == nil {
			groups[key] = &group{cur, cur}
			keys = append(keys, key)
			continue
		}
		if cur == g.last+1 {
			g.last = cur
			continue
		}
		result = append(result, formGroup(key, g.first, g.last))
		groups[key] = &group{cur, cur}
	}
	for _, k := range keys {
		g := groups[k]
		result = append(result, formGroup(k, g.first, g.last))
	}
	return strings.Join(append(result, hostMappings...), ", ")
}

func formGroup(key string, start, last uint16) string {
	ip, typ := "", key
	if i := strings.LastIndex(key, "/"); i > 0 {
		ip, typ = key[:i], key[i+1:]
	}
	g := strconv.Itoa(int(start))
	if start != last {
		g = fmt.Sprintf("%s-%d", g, last)
	}
	if ip != "" {
		g = fmt.Sprintf("%s->%s", net.JoinHostPort(ip, g), g)
	}
	return g + "/" + typ
}
