package image

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// The moby client ships a renderer for these streams
// (client/pkg/jsonmessage), but it needs github.com/moby/term, which berth
// does not otherwise depend on; this is a compact one that draws the same
// output.

// isTerminal reports whether a stream (cli.In, cli.Out) is a terminal.
// Tests replace it.
var isTerminal = streamIsTerminal

// terminalWidth is the width progress bars are fitted to.
var terminalWidth = streamWidth

// message is one object of the daemon's JSON message stream. "error" is
// the old spelling of errorDetail.message, still sent alongside it.
type message struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

func (m message) err() error {
	msg := m.ErrorMessage
	if m.Error != nil && m.Error.Message != "" {
		msg = m.Error.Message
	}
	if m.Error == nil && msg == "" {
		return nil
	}
	// The daemon's own words, without "Error response from daemon:",
	// as docker prints them.
	return command.StatusError{Status: msg, StatusCode: 1}
}

// displayStream renders the JSON message stream from in onto out, drawing
// progress bars in place if out is a terminal. aux, if set, receives each
// message's "aux" payload, and such messages are not shown. An error in
// the stream ends the rendering and is returned.
func displayStream(in io.Reader, out io.Writer, aux func(json.RawMessage)) error {
	tty := out != io.Discard && isTerminal(out)
	var width uint16
	if tty {
		width = terminalWidth(out)
	}
	return renderStream(in, out, tty, width, aux)
}

const (
	eraseLine  = "\x1b[2K"
	cursorUp   = "\x1b[%dA"
	cursorDown = "\x1b[%dB"
)

// renderStream is docker's jsonmessage.DisplayJSONMessagesStream. Off a
// terminal each message is a line and byte-count updates are dropped. On
// one, every ID with progress gets a line of its own that later updates
// rewrite: the cursor goes up to it, the line is erased and redrawn, and
// the cursor comes back down. A message without an ID (or progress)
// starts a fresh set of lines.
func renderStream(in io.Reader, out io.Writer, tty bool, width uint16, aux func(json.RawMessage)) error {
	br := bufio.NewReader(in)
	if !startsWithJSON(br) {
		// Not a message stream (an old daemon's plain text): pass it on.
		_, err := io.Copy(out, br)
		return err
	}
	dec := json.NewDecoder(br)
	lines := map[string]int{}
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Aux != nil {
			if aux != nil {
				aux(*m.Aux)
			}
			continue
		}
		diff := 0
		if m.ID != "" && m.Progress != nil {
			line, ok := lines[m.ID]
			if !ok {
				line = len(lines)
				lines[m.ID] = line
				if tty {
					_, _ = io.WriteString(out, "\n")
				}
			}
			diff = len(lines) - line
			if tty {
				fmt.Fprintf(out, cursorUp, diff)
			}
		} else {
			clear(lines)
		}
		err := renderMessage(out, m, tty, width)
		if m.ID != "" && tty && diff > 0 {
			fmt.Fprintf(out, cursorDown, diff)
		}
		if err != nil {
			return err
		}
	}
}

// startsWithJSON reports whether the stream's first non-blank byte opens a
// JSON object (an empty stream counts, so that it renders as nothing).
func startsWithJSON(br *bufio.Reader) bool {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil {
			return true
		}
		switch c := b[i-1]; c {
		case ' ', '\t', '\r', '\n':
			continue
		default:
			return c == '{'
		}
	}
}

func renderMessage(out io.Writer, m message, tty bool, width uint16) error {
	if err := m.err(); err != nil {
		return err
	}
	var b strings.Builder
	endl := ""
	if tty && m.Stream == "" && m.Progress != nil {
		b.WriteString(eraseLine + "\r")
		endl = "\r"
	} else if m.Progress != nil && (m.Progress.Current > 0 || m.Progress.Total > 0) {
		// Byte counts are noise off a terminal.
		return nil
	}
	if m.ID != "" {
		b.WriteString(m.ID + ": ")
	}
	switch {
	case m.Progress != nil && tty:
		if width == 0 {
			width = 200
		}
		b.WriteString(m.Status + " " + progressBar(*m.Progress, width) + endl)
	case m.Stream != "":
		b.WriteString(m.Stream + endl)
	default:
		b.WriteString(m.Status + endl + "\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// progressBar draws "[=====>     ]  1.2MB/3.4MB 5s": the bar only on a
// terminal wider than 110 columns, the time left only wider than 50.
func progressBar(p jsonstream.Progress, width uint16) string {
	if p.Current <= 0 && p.Total <= 0 {
		return ""
	}
	if p.Total <= 0 {
		if p.Units == "" {
			return fmt.Sprintf("%8v", units.HumanSize(float64(p.Current)))
		}
		return fmt.Sprintf("%d %s", p.Current, p.Units)
	}
	percent := min(int(float64(p.Current)/float64(p.Total)*100)/2, 50)
	var bar, numbers, left string
	if width > 110 {
		bar = "[" + strings.Repeat("=", percent) + ">" + strings.Repeat(" ", max(50-percent, 0)) + "] "
	}
	switch {
	case p.HideCounts:
	case p.Units == "":
		numbers = fmt.Sprintf("%8v/%v", units.HumanSize(float64(p.Current)), units.HumanSize(float64(p.Total)))
		if p.Current > p.Total {
			numbers = fmt.Sprintf("%8v", units.HumanSize(float64(p.Current)))
		}
	default:
		numbers = fmt.Sprintf("%d/%d %s", p.Current, p.Total, p.Units)
		if p.Current > p.Total {
			numbers = fmt.Sprintf("%d %s", p.Current, p.Units)
		}
	}
	if width > 50 && p.Current > 0 && p.Start > 0 && percent < 50 {
		elapsed := now().UTC().Sub(time.Unix(p.Start, 0))
		perByte := elapsed / time.Duration(p.Current)
		left = " " + (time.Duration(p.Total-p.Current) * perByte).Round(time.Second).String()
	}
	return bar + numbers + left
}
