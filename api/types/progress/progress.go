// Package progress carries the progress of long operations (load, import,
// pull, push) from the daemon to the API, which renders it as the JSON
// message stream the docker CLI draws progress bars from.
package progress

// Progress is one update: a status line for an ID ("Loading layer",
// "Pull complete"), optionally with a byte count.
type Progress struct {
	ID      string
	Action  string
	Current int64
	Total   int64
	// Aux is out-of-band data sent as the message's "aux" field.
	Aux any
}

// Output receives updates. Implementations are safe for concurrent use.
type Output interface {
	WriteProgress(Progress) error
}

// Discard drops every update (quiet mode).
var Discard Output = discard{}

type discard struct{}

func (discard) WriteProgress(Progress) error { return nil }

// Update sends a plain status line.
func Update(out Output, id, action string) {
	_ = out.WriteProgress(Progress{ID: id, Action: action})
}
