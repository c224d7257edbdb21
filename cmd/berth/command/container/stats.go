package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/command/formatter"
)

const statsTableFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsEntry is one container's figures, computed as docker does.
type statsEntry struct {
	Container        string
	Name             string
	ID               string
	CPUPercentage    float64
	Memory           float64
	MemoryLimit      float64
	MemoryPercentage float64
	NetworkRx        float64
	NetworkTx        float64
	BlockRead        float64
	BlockWrite       float64
	PidsCurrent      uint64
	IsInvalid        bool
}

// cpuPercent is docker's calculateCPUPercentUnix: the container's share
// of the host's CPU time since the previous sample, times the CPUs online.
func cpuPercent(pre, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(pre.CPUUsage.TotalUsage)
	systemDelta := float64(cur.SystemUsage) - float64(pre.SystemUsage)
	online := float64(cur.OnlineCPUs)
	if online == 0 {
		online = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if systemDelta > 0 && cpuDelta > 0 {
		return (cpuDelta / systemDelta) * online * 100
	}
	return 0
}

// memUsageNoCache is the usage minus the page cache that could be
// reclaimed: total_inactive_file on cgroup v1, inactive_file on v2.
func memUsageNoCache(m container.MemoryStats) float64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return float64(m.Usage - v)
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return float64(m.Usage - v)
	}
	return float64(m.Usage)
}

func memPercent(limit, used float64) float64 {
	if limit != 0 {
		return used / limit * 100
	}
	return 0
}

func blockIO(b container.BlkioStats) (read, write uint64) {
	for _, e := range b.IoServiceBytesRecursive {
		if len(e.Op) == 0 {
			continue
		}
		switch e.Op[0] {
		case 'r', 'R':
			read += e.Value
		case 'w', 'W':
			write += e.Value
		}
	}
	return read, write
}

func networkIO(n map[string]container.NetworkStats) (rx, tx float64) {
	for _, v := range n {
		rx += float64(v.RxBytes)
		tx += float64(v.TxBytes)
	}
	return rx, tx
}

// toStatsEntry computes the figures of one stats sample.
func toStatsEntry(name string, v container.StatsResponse) statsEntry {
	mem := memUsageNoCache(v.MemoryStats)
	rx, tx := networkIO(v.Networks)
	r, w := blockIO(v.BlkioStats)
	return statsEntry{
		Container:        name,
		Name:             v.Name,
		ID:               v.ID,
		CPUPercentage:    cpuPercent(v.PreCPUStats, v.CPUStats),
		Memory:           mem,
		MemoryLimit:      float64(v.MemoryStats.Limit),
		MemoryPercentage: memPercent(float64(v.MemoryStats.Limit), mem),
		NetworkRx:        rx,
		NetworkTx:        tx,
		BlockRead:        float64(r),
		BlockWrite:       float64(w),
		PidsCurrent:      v.PidsStats.Current,
	}
}

// statsRow is a statsEntry as --format templates see it.
type statsRow struct {
	s     statsEntry
	trunc bool
}

const noValue = "--"

func (r statsRow) Container() string { return r.s.Container }
func (r statsRow) Name() string {
	if n := strings.TrimPrefix(r.s.Name, "/"); n != "" {
		return n
	}
	return noValue
}

func (r statsRow) ID() string {
	if r.trunc {
		return truncateID(r.s.ID)
	}
	return r.s.ID
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

func (r statsRow) CPUPerc() string {
	if r.s.IsInvalid {
		return noValue
	}
	return pct(r.s.CPUPercentage)
}

func (r statsRow) MemUsage() string {
	if r.s.IsInvalid {
		return "-- / --"
	}
	return units.BytesSize(r.s.Memory) + " / " + units.BytesSize(r.s.MemoryLimit)
}

func (r statsRow) MemPerc() string {
	if r.s.IsInvalid {
		return noValue
	}
	return pct(r.s.MemoryPercentage)
}

func (r statsRow) NetIO() string {
	if r.s.IsInvalid {
		return noValue
	}
	return units.HumanSizeWithPrecision(r.s.NetworkRx, 3) + " / " + units.HumanSizeWithPrecision(r.s.NetworkTx, 3)
}

func (r statsRow) BlockIO() string {
	if r.s.IsInvalid {
		return noValue
	}
	return units.HumanSizeWithPrecision(r.s.BlockRead, 3) + " / " + units.HumanSizeWithPrecision(r.s.BlockWrite, 3)
}

func (r statsRow) PIDs() string {
	if r.s.IsInvalid {
		return noValue
	}
	return strconv.FormatUint(r.s.PidsCurrent, 10)
}

// MarshalJSON is `stats --format json`.
func (r statsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"BlockIO": r.BlockIO(), "CPUPerc": r.CPUPerc(), "Container": r.Container(), "ID": r.ID(),
		"MemPerc": r.MemPerc(), "MemUsage": r.MemUsage(), "Name": r.Name(), "NetIO": r.NetIO(), "PIDs": r.PIDs(),
	})
}

type statsHeader struct{}

func (statsHeader) Container() string            { return "CONTAINER" }
func (statsHeader) Name() string                 { return "NAME" }
func (statsHeader) ID() string                   { return "CONTAINER ID" }
func (statsHeader) CPUPerc() string              { return "CPU %" }
func (statsHeader) MemUsage() string             { return "MEM USAGE / LIMIT" }
func (statsHeader) MemPerc() string              { return "MEM %" }
func (statsHeader) NetIO() string                { return "NET I/O" }
func (statsHeader) BlockIO() string              { return "BLOCK I/O" }
func (statsHeader) PIDs() string                 { return "PIDS" }
func (statsHeader) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

func writeStats(out io.Writer, format string, noTrunc bool, entries []statsEntry) error {
	if format == "" || format == formatter.TableKey {
		format = statsTableFormat
	}
	rows := make([]statsRow, len(entries))
	for i, e := range entries {
		rows[i] = statsRow{s: e, trunc: !noTrunc}
	}
	return formatter.Write(out, format, statsHeader{}, rows)
}

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
	containers             []string
}

// collector follows one container's stats stream and keeps the latest.
type collector struct {
	mu    sync.Mutex
	entry statsEntry
	err   error
	done  bool
}

func (c *collector) get() (statsEntry, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entry, c.err, c.done
}

func collect(ctx context.Context, api client.ContainerAPIClient, name string, stream bool, c *collector, first chan<- struct{}) {
	once := sync.OnceFunc(func() { close(first) })
	defer once()
	c.mu.Lock()
	c.entry = statsEntry{Container: name, Name: name, ID: name, IsInvalid: true}
	c.mu.Unlock()
	res, err := api.ContainerStats(ctx, name, client.ContainerStatsOptions{Stream: stream, IncludePreviousSample: !stream})
	if err != nil {
		c.mu.Lock()
		c.err, c.done = err, true
		c.mu.Unlock()
		return
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var v container.StatsResponse
		if err := dec.Decode(&v); err != nil {
			c.mu.Lock()
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				c.err = err
			}
			c.entry.IsInvalid = true
			c.done = true
			c.mu.Unlock()
			return
		}
		e := toStatsEntry(name, v)
		c.mu.Lock()
		c.entry, c.err = e, nil
		c.mu.Unlock()
		once()
		if !stream {
			return
		}
	}
}

// runStats shows resource usage: once with --no-stream, otherwise redrawn
// every half second until interrupted, as docker stats does.
func runStats(ctx context.Context, api client.ContainerAPIClient, s streams, o statsOptions) error {
	if _, err := formatter.Parse("", strings.TrimPrefix(o.format, formatter.TableKey)); err != nil && o.format != formatter.JSONKey {
		return err
	}
	names := o.containers
	explicit := len(names) > 0
	if !explicit {
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: o.all})
		if err != nil {
			return err
		}
		for _, c := range res.Items {
			names = append(names, c.ID)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	collectors := make([]*collector, len(names))
	var firsts []chan struct{}
	for i, n := range names {
		collectors[i] = &collector{}
		first := make(chan struct{})
		firsts = append(firsts, first)
		go collect(ctx, api, n, !o.noStream, collectors[i], first)
	}
	for _, f := range firsts {
		select {
		case <-f:
		case <-time.After(2 * time.Second):
		}
	}

	snapshot := func() ([]statsEntry, error) {
		var entries []statsEntry
		var errs []error
		for _, c := range collectors {
			e, err, done := c.get()
			if err != nil && explicit {
				errs = append(errs, err)
				continue
			}
			if done && !o.noStream && !explicit {
				continue // a container that stopped leaves the list
			}
			entries = append(entries, e)
		}
		return entries, errors.Join(errs...)
	}

	if o.noStream {
		entries, err := snapshot()
		if err != nil {
			return err
		}
		return writeStats(s.out, o.format, o.noTrunc, entries)
	}
	_, isTerm := s.outFd()
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		entries, err := snapshot()
		if err != nil && len(entries) == 0 {
			return err
		}
		var buf bytes.Buffer
		if err := writeStats(&buf, o.format, o.noTrunc, entries); err != nil {
			return err
		}
		if isTerm {
			buf = redrawFrame(buf.String())
		}
		if _, err := buf.WriteTo(s.out); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// redrawFrame draws a stats table over the previous one as docker does,
// without clearing the screen (which flickers): from the top-left corner,
// each line erases what is left of the longer line it overwrites, and what
// is below the table is erased too.
func redrawFrame(table string) bytes.Buffer {
	var b bytes.Buffer
	b.WriteString("\033[H")
	for _, line := range strings.SplitAfter(table, "\n") {
		if line == "" {
			continue
		}
		b.WriteString(strings.TrimSuffix(line, "\n") + "\033[K\n")
	}
	b.WriteString("\033[J")
	return b
}
