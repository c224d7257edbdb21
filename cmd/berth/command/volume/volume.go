// Package volume implements `berth volume`: create, ls, inspect, rm and
// prune, with the docker CLI's flags and output. The run* functions hold
// the logic; cmd.go only wires them to cobra.
package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

type createOptions struct {
	name       string
	driver     string
	driverOpts map[string]string
	labels     map[string]string
}

// runCreate creates a volume and prints its name, which for an anonymous
// volume is the only way the caller learns it.
func runCreate(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts createOptions) error {
	res, err := api.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name:       opts.name,
		Driver:     opts.driver,
		DriverOpts: opts.driverOpts,
		Labels:     opts.labels,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, res.Volume.Name)
	return err
}

const (
	defaultTableFormat = "table {{.Driver}}\t{{.Name}}"
	quietFormat        = "{{.Name}}"
)

type listOptions struct {
	quiet   bool
	format  string
	filters client.Filters
}

// runList prints the volumes matching the filters, sorted by name in
// natural order as docker does (vol2 before vol10).
func runList(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts listOptions) error {
	res, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: opts.filters})
	if err != nil {
		return err
	}
	vols := res.Items
	slices.SortFunc(vols, func(a, b volume.Volume) int {
		switch {
		case formatter.NaturalLess(a.Name, b.Name):
			return -1
		case formatter.NaturalLess(b.Name, a.Name):
			return 1
		}
		return 0
	})
	rows := make([]row, len(vols))
	for i, v := range vols {
		rows[i] = row{v}
	}
	return formatter.Write(out, listFormat(opts.format, opts.quiet), header{}, rows)
}

// listFormat picks the template: -q only shortens the default table, an
// explicit --format wins over it.
func listFormat(format string, quiet bool) string {
	if format == "" || format == formatter.TableKey {
		if quiet {
			return quietFormat
		}
		return defaultTableFormat
	}
	return format
}

type inspectOptions struct {
	names  []string
	format string
}

// runInspect prints each named volume; names that fail are reported
// together at the end and make the command fail.
func runInspect(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts inspectOptions) error {
	return formatter.Inspect(out, opts.format, opts.names, func(name string) (any, error) {
		res, err := api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		return res.Volume, err
	})
}

type removeOptions struct {
	names []string
	force bool
}

// runRemove removes each volume, printing each name removed. It goes on
// past failures, like docker, and returns them all joined.
func runRemove(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts removeOptions) error {
	var errs []error
	for _, name := range opts.names {
		if _, err := api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: opts.force}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(errs...)
}

const (
	pruneWarning = `WARNING! This will remove anonymous local volumes not used by at least one container.
Are you sure you want to continue?`
	pruneAllWarning = `WARNING! This will remove all local volumes not used by at least one container.
Are you sure you want to continue?`
)

type pruneOptions struct {
	all     bool
	force   bool
	filters client.Filters
}

// runPrune removes unused volumes after asking (unless force), then prints
// what went and the space reclaimed in docker's units. Declining is not an
// error: nothing is printed and berth exits 0, as docker does.
func runPrune(ctx context.Context, api client.VolumeAPIClient, in io.Reader, out io.Writer, opts pruneOptions) error {
	if _, ok := opts.filters["all"]; ok && opts.all {
		return errors.New("conflicting options: cannot specify both --all and --filter all=1")
	}
	if !opts.force {
		warning := pruneWarning
		if opts.all {
			warning = pruneAllWarning
		}
		if !command.Confirm(in, out, warning) {
			return nil
		}
	}
	res, err := api.VolumePrune(ctx, client.VolumePruneOptions{All: opts.all, Filters: opts.filters})
	if err != nil {
		return err
	}
	return writePruneReport(out, res.Report)
}

func writePruneReport(out io.Writer, rep volume.PruneReport) error {
	var b strings.Builder
	var reclaimed uint64
	if len(rep.VolumesDeleted) > 0 {
		b.WriteString("Deleted Volumes:\n")
		for _, name := range rep.VolumesDeleted {
			b.WriteString(name + "\n")
		}
		b.WriteString("\n")
		reclaimed = rep.SpaceReclaimed
	}
	b.WriteString("Total reclaimed space: " + units.HumanSize(float64(reclaimed)) + "\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// row is a volume as --format templates see it: docker's field names, all
// strings, "N/A" where the daemon did not say.
type row struct{ v volume.Volume }

func (r row) Name() string       { return r.v.Name }
func (r row) Driver() string     { return r.v.Driver }
func (r row) Scope() string      { return r.v.Scope }
func (r row) Mountpoint() string { return r.v.Mountpoint }
func (r row) CreatedAt() string  { return r.v.CreatedAt }

// Labels joins the labels as k=v pairs, sorted so output is stable (docker
// leaves them in map order).
func (r row) Labels() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.v.Labels)) {
		out = append(out, k+"="+r.v.Labels[k])
	}
	return strings.Join(out, ",")
}

// Label is the value of one label, for {{.Label "name"}}.
func (r row) Label(name string) string { return r.v.Labels[name] }

func (r row) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return strconv.FormatInt(r.v.UsageData.RefCount, 10)
}

func (r row) Size() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return units.HumanSize(float64(r.v.UsageData.Size))
}

func (r row) Group() string {
	if r.v.ClusterVolume == nil {
		return "N/A"
	}
	return r.v.ClusterVolume.Spec.Group
}

func (r row) Availability() string {
	if r.v.ClusterVolume == nil {
		return "N/A"
	}
	return string(r.v.ClusterVolume.Spec.Availability)
}

// Status only means something for swarm cluster volumes, which berth has
// not got.
func (r row) Status() string { return "N/A" }

// MarshalJSON gives {{json .}} and --format json the same object docker
// prints. CreatedAt is left out because docker's has no such field.
func (r row) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Availability": r.Availability(),
		"Driver":       r.Driver(),
		"Group":        r.Group(),
		"Labels":       r.Labels(),
		"Links":        r.Links(),
		"Mountpoint":   r.Mountpoint(),
		"Name":         r.Name(),
		"Scope":        r.Scope(),
		"Size":         r.Size(),
		"Status":       r.Status(),
	})
}

// header answers the same template as row with the column titles.
type header struct{}

func (header) Name() string         { return "VOLUME NAME" }
func (header) Driver() string       { return "DRIVER" }
func (header) Scope() string        { return "SCOPE" }
func (header) Mountpoint() string   { return "MOUNTPOINT" }
func (header) CreatedAt() string    { return "CREATED AT" }
func (header) Labels() string       { return "LABELS" }
func (header) Links() string        { return "LINKS" }
func (header) Size() string         { return "SIZE" }
func (header) Group() string        { return "GROUP" }
func (header) Availability() string { return "AVAILABILITY" }
func (header) Status() string       { return "STATUS" }

// Label titles a label column with the last dotted part of its name, as
// docker does.
func (header) Label(name string) string {
	return formatter.LabelTitle(name)
}
