package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	cerrdefs "github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/term"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

// parallel runs fn on every container at once and returns the errors in
// the containers' order, as docker's parallelOperation does.
func parallel(ctx context.Context, ids []string, fn func(context.Context, string) error) []error {
	errs := make([]error, len(ids))
	done := make(chan struct{})
	sem := make(chan struct{}, 50)
	for i, id := range ids {
		go func() {
			sem <- struct{}{}
			errs[i] = fn(ctx, id)
			<-sem
			done <- struct{}{}
		}()
	}
	for range ids {
		<-done
	}
	return errs
}

// eachPrint prints each container whose operation succeeded and returns
// the failures joined; skip drops errors that are not failures.
func eachPrint(out io.Writer, ids []string, errs []error, skip func(error) bool) error {
	var failed []error
	for i, id := range ids {
		if err := errs[i]; err != nil {
			if skip != nil && skip(err) {
				continue
			}
			failed = append(failed, err)
			continue
		}
		fmt.Fprintln(out, id)
	}
	return errors.Join(failed...)
}

type stopOptions struct {
	signal         string
	timeout        int
	timeoutChanged bool
	containers     []string
}

func (o stopOptions) timeoutPtr() *int {
	if !o.timeoutChanged {
		return nil
	}
	t := o.timeout
	return &t
}

func runStop(ctx context.Context, api client.ContainerAPIClient, out io.Writer, o stopOptions) error {
	errs := parallel(ctx, o.containers, func(ctx context.Context, id string) error {
		_, err := api.ContainerStop(ctx, id, client.ContainerStopOptions{Signal: o.signal, Timeout: o.timeoutPtr()})
		return err
	})
	return eachPrint(out, o.containers, errs, nil)
}

func runRestart(ctx context.Context, api client.ContainerAPIClient, out io.Writer, o stopOptions) error {
	var errs []error
	for _, id := range o.containers {
		if _, err := api.ContainerRestart(ctx, id, client.ContainerRestartOptions{Signal: o.signal, Timeout: o.timeoutPtr()}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, id)
	}
	return errors.Join(errs...)
}

func runKill(ctx context.Context, api client.ContainerAPIClient, out io.Writer, sig string, ids []string) error {
	errs := parallel(ctx, ids, func(ctx context.Context, id string) error {
		_, err := api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: sig})
		return err
	})
	return eachPrint(out, ids, errs, nil)
}

type rmOptions struct {
	force, volumes, links bool
	containers            []string
}

func runRm(ctx context.Context, api client.ContainerAPIClient, s streams, o rmOptions) error {
	errs := parallel(ctx, o.containers, func(ctx context.Context, id string) error {
		id = strings.Trim(id, "/")
		if id == "" {
			return errors.New("container name cannot be empty")
		}
		_, err := api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{RemoveVolumes: o.volumes, RemoveLinks: o.links, Force: o.force})
		return err
	})
	// With -f a missing container is reported but is no failure, as in
	// docker.
	return eachPrint(s.out, o.containers, errs, func(err error) bool {
		if o.force && cerrdefs.IsNotFound(err) {
			fmt.Fprintln(s.err, err)
			return true
		}
		return false
	})
}

func runPause(ctx context.Context, api client.ContainerAPIClient, out io.Writer, ids []string) error {
	errs := parallel(ctx, ids, func(ctx context.Context, id string) error {
		_, err := api.ContainerPause(ctx, id, client.ContainerPauseOptions{})
		return err
	})
	return eachPrint(out, ids, errs, nil)
}

func runUnpause(ctx context.Context, api client.ContainerAPIClient, out io.Writer, ids []string) error {
	errs := parallel(ctx, ids, func(ctx context.Context, id string) error {
		_, err := api.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
		return err
	})
	return eachPrint(out, ids, errs, nil)
}

// runWait prints each container's exit status once it stops.
func runWait(ctx context.Context, api client.ContainerAPIClient, out io.Writer, ids []string) error {
	var errs []error
	for _, id := range ids {
		res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{})
		select {
		case r := <-res.Result:
			if r.Error != nil {
				errs = append(errs, errors.New(r.Error.Message))
				continue
			}
			fmt.Fprintf(out, "%d\n", r.StatusCode)
		case err := <-res.Error:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func runRename(ctx context.Context, api client.ContainerAPIClient, errOut io.Writer, oldName, newName string) error {
	oldName, newName = strings.TrimSpace(oldName), strings.TrimSpace(newName)
	if oldName == "" || newName == "" {
		return errors.New("Error: Neither old nor new names may be empty")
	}
	if _, err := api.ContainerRename(ctx, oldName, client.ContainerRenameOptions{NewName: newName}); err != nil {
		// docker prints the daemon's reason, then its own summary.
		fmt.Fprintln(errOut, err)
		return fmt.Errorf("Error: failed to rename container named %s", oldName)
	}
	return nil
}

// runTop prints the processes in a tab-aligned table.
func runTop(ctx context.Context, api client.ContainerAPIClient, out io.Writer, id string, args []string) error {
	res, err := api.ContainerTop(ctx, id, client.ContainerTopOptions{Arguments: args})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
	for _, p := range res.Processes {
		fmt.Fprintln(w, strings.Join(p, "\t"))
	}
	return w.Flush()
}

// runPort lists the container's published ports, or where one port is
// published.
func runPort(ctx context.Context, api client.ContainerAPIClient, out io.Writer, id, port string) error {
	res, err := api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	var ports network.PortMap
	if ns := res.Container.NetworkSettings; ns != nil {
		ports = ns.Ports
	}
	hostPort := func(b network.PortBinding) string {
		ip := "0.0.0.0"
		if b.HostIP.IsValid() {
			ip = b.HostIP.String()
		}
		if strings.Contains(ip, ":") {
			return "[" + ip + "]:" + b.HostPort
		}
		return ip + ":" + b.HostPort
	}
	var lines []string
	if port != "" {
		num, proto, _ := strings.Cut(port, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid port (%s): %w", num, err)
		}
		p, ok := network.PortFrom(uint16(n), network.IPProtocol(proto))
		if !ok {
			return fmt.Errorf("invalid port (%s)", port)
		}
		bindings, ok := ports[p]
		if !ok || len(bindings) == 0 {
			return fmt.Errorf("Error: No public port '%s' published for %s", port, id)
		}
		for _, b := range bindings {
			lines = append(lines, hostPort(b))
		}
	} else {
		for p, bindings := range ports {
			for _, b := range bindings {
				lines = append(lines, fmt.Sprintf("%s -> %s", p, hostPort(b)))
			}
		}
		sort.Strings(lines)
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

type updateOptions struct {
	blkioWeight                                                     uint16
	cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime, cpuShares, pids int64
	cpus                                                            int64
	cpusetCpus, cpusetMems                                          string
	memory, memoryReservation, memorySwap                           int64
	restart                                                         string
	changed                                                         func(string) bool
	nFlag                                                           int
	containers                                                      []string
}

// updateRequest builds the update body from the flags given.
func updateRequest(o updateOptions) (client.ContainerUpdateOptions, error) {
	if o.nFlag == 0 {
		return client.ContainerUpdateOptions{}, errors.New("you must provide one or more flags when using this command")
	}
	r := &container.Resources{
		BlkioWeight:        o.blkioWeight,
		CpusetCpus:         o.cpusetCpus,
		CpusetMems:         o.cpusetMems,
		CPUShares:          o.cpuShares,
		Memory:             o.memory,
		MemoryReservation:  o.memoryReservation,
		MemorySwap:         o.memorySwap,
		CPUPeriod:          o.cpuPeriod,
		CPUQuota:           o.cpuQuota,
		CPURealtimePeriod:  o.cpuRtPeriod,
		CPURealtimeRuntime: o.cpuRtRuntime,
		NanoCPUs:           o.cpus,
	}
	if o.changed("pids-limit") {
		p := o.pids
		r.PidsLimit = &p
	}
	req := client.ContainerUpdateOptions{Resources: r}
	if o.changed("restart") {
		rp, err := parseRestartPolicy(o.restart)
		if err != nil {
			return req, err
		}
		req.RestartPolicy = &rp
	}
	return req, nil
}

func runUpdate(ctx context.Context, api client.ContainerAPIClient, s streams, o updateOptions) error {
	req, err := updateRequest(o)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range o.containers {
		res, err := api.ContainerUpdate(ctx, id, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(s.err, w)
		}
		fmt.Fprintln(s.out, id)
	}
	return errors.Join(errs...)
}

type commitOptions struct {
	container, reference, author, message string
	changes                               []string
	pause                                 bool
}

func runCommit(ctx context.Context, api client.ContainerAPIClient, out io.Writer, o commitOptions) error {
	res, err := api.ContainerCommit(ctx, o.container, client.ContainerCommitOptions{
		Reference: o.reference, Comment: o.message, Author: o.author, Changes: o.changes, NoPause: !o.pause,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res.ID)
	return nil
}

// runExport writes the container's filesystem as a tar to output, or to
// stdout unless it is a terminal.
func runExport(ctx context.Context, api client.ContainerAPIClient, s streams, id, output string) error {
	if output == "" {
		if fd, isTerm := s.outFd(); isTerm && term.IsTerminal(fd) {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
	} else if err := validateOutputPath(output); err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	rc, err := api.ContainerExport(ctx, id, client.ContainerExportOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	if output == "" {
		_, err = io.Copy(s.out, rc)
		return err
	}
	f, err := os.CreateTemp(dirOf(output), ".berth_temp_")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("failed to save to a temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), output); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("failed to rename temporary file: %w", err)
	}
	return nil
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return "."
}

const pruneWarning = `WARNING! This will remove all stopped containers.
Are you sure you want to continue?`

type pruneOptions struct {
	force   bool
	filters client.Filters
}

func runPrune(ctx context.Context, api client.ContainerAPIClient, in io.Reader, out io.Writer, o pruneOptions) error {
	if !o.force && !command.Confirm(in, out, pruneWarning) {
		return nil
	}
	res, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: o.filters})
	if err != nil {
		return err
	}
	var b strings.Builder
	if len(res.Report.ContainersDeleted) > 0 {
		b.WriteString("Deleted Containers:\n")
		for _, id := range res.Report.ContainersDeleted {
			b.WriteString(id + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("Total reclaimed space: " + units.HumanSize(float64(res.Report.SpaceReclaimed)) + "\n")
	_, err = io.WriteString(out, b.String())
	return err
}

type inspectOptions struct {
	format string
	size   bool
	refs   []string
}

// runInspect prints containers as the daemon returns them, or through a
// template applied to the decoded object.
func runInspect(ctx context.Context, api client.ContainerAPIClient, out io.Writer, o inspectOptions) error {
	raw := o.format == "" || o.format == formatter.JSONKey
	return formatter.Inspect(out, o.format, o.refs, func(ref string) (any, error) {
		res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: o.size})
		if err != nil {
			return nil, err
		}
		if raw && len(res.Raw) > 0 {
			// The daemon's own bytes keep its field order.
			return json.RawMessage(res.Raw), nil
		}
		return res.Container, nil
	})
}

// containerNames is for completions: names of containers (all or
// running only), without the leading slash.
func containerNames(ctx context.Context, api client.ContainerAPIClient, all bool, exclude []string) []string {
	res, err := api.ContainerList(ctx, client.ContainerListOptions{All: all})
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range res.Items {
		if len(c.Names) == 0 {
			continue
		}
		n := strings.TrimPrefix(c.Names[0], "/")
		if !slices.Contains(exclude, n) {
			out = append(out, n)
		}
	}
	return out
}

// runInspectAny is the top-level `berth inspect`: each name is looked up
// as a container, then an image, then a volume, unless --type says which.
func runInspectAny(ctx context.Context, api *client.Client, out io.Writer, o inspectOptions, typ string) error {
	switch typ {
	case "", "container", "image", "volume":
	default:
		return fmt.Errorf("%q is not a valid value for --type", typ)
	}
	raw := o.format == "" || o.format == formatter.JSONKey
	return formatter.Inspect(out, o.format, o.refs, func(ref string) (any, error) {
		if typ == "" || typ == "container" {
			res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: o.size})
			if err == nil {
				if raw && len(res.Raw) > 0 {
					return json.RawMessage(res.Raw), nil
				}
				return res.Container, nil
			}
			if typ != "" || !cerrdefs.IsNotFound(err) {
				return nil, err
			}
		}
		if typ == "" || typ == "image" {
			res, err := api.ImageInspect(ctx, ref)
			if err == nil {
				return res.InspectResponse, nil
			}
			if typ != "" || !cerrdefs.IsNotFound(err) {
				return nil, err
			}
		}
		res, err := api.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
		if err != nil {
			if typ == "" && cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("Error: No such object: %s", ref)
			}
			return nil, err
		}
		if raw && len(res.Raw) > 0 {
			return json.RawMessage(res.Raw), nil
		}
		return res.Volume, nil
	})
}
