package daemon

import (
	"bufio"
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
)

// ContainerStats samples the container's cgroups through its shim, once or
// every second; a container that is not running yields zeroed samples, as
// Docker's.
func (d *Daemon) ContainerStats(ctx context.Context, name string, o containerrouter.StatsOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	var prev *containertypes.StatsResponse
	first := true
	for {
		s := &containertypes.StatsResponse{ID: c.ID, Name: c.Name, OSType: "linux"}
		cl := d.rt.shimOf(c.ID)
		if cl != nil {
			if got, err := cl.Stats(ctx); err == nil {
				got.ID, got.Name, got.OSType = c.ID, c.Name, "linux"
				s = got
			}
		}
		s.Read = time.Now().UTC()
		if prev != nil {
			s.PreRead, s.PreCPUStats = prev.Read, prev.CPUStats
		}
		// A one-off sample without one-shot takes a second sample so
		// that the CPU percentage can be computed, as Docker does.
		if !o.Stream && !o.OneShot && first && cl != nil {
			prev, first = s, false
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if err := o.Output(s); err != nil {
			return nil
		}
		if !o.Stream {
			return nil
		}
		prev = s
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// ContainerTop runs ps on the host and keeps the container's processes.
func (d *Daemon) ContainerTop(ctx context.Context, name, psArgs string) (*containertypes.TopResponse, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return nil, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return nil, conflictf("container %s is not running", c.ID)
	}
	pids, err := cl.Pids(ctx)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, invalidf("error running top: %v", err)
	}
	r, err := parsePS(string(out), pids)
	if err != nil {
		return nil, err
	}
	d.logContainerEvent(c, eventtypes.ActionTop, nil)
	return r, nil
}

// parsePS keeps ps's header and the rows whose PID column is one of pids.
func parsePS(out string, pids []int) (*containertypes.TopResponse, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		return nil, invalidf("ps printed nothing")
	}
	titles := strings.Fields(sc.Text())
	pidCol := slices.Index(titles, "PID")
	if pidCol < 0 {
		return nil, invalidf("Couldn't find PID field in ps output")
	}
	r := &containertypes.TopResponse{Titles: titles, Processes: [][]string{}}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(fields[pidCol])
		if err != nil || !slices.Contains(pids, pid) {
			continue
		}
		// The last column (the command) may hold spaces.
		if len(fields) > len(titles) {
			fields = append(fields[:len(titles)-1], strings.Join(fields[len(titles)-1:], " "))
		}
		r.Processes = append(r.Processes, fields)
	}
	return r, nil
}
