package httputils

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-engine/berth/api/types/progress"
)

// streamMessage is jsonstream.Message plus the two legacy strings that
// older clients (docker-py) read: "progress", a rendered bar, and "error".
type streamMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
	ErrorMessage    string `json:"error,omitempty"`
}

// JSONStream writes newline-delimited JSON messages, flushing each, and is a
// progress.Output. The first write sends 200: a failure after that is sent
// as an error message in the stream, as Docker does.
type JSONStream struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	enc   *json.Encoder
	began bool
}

// NewJSONStream starts a stream on w.
func NewJSONStream(w http.ResponseWriter) *JSONStream {
	return &JSONStream{w: w, enc: json.NewEncoder(w)}
}

// Began reports whether anything was written (after which errors must go in
// the stream rather than as a status code).
func (s *JSONStream) Began() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.began
}

func (s *JSONStream) write(m streamMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.began {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.began = true
	}
	if err := s.enc.Encode(m); err != nil {
		return err
	}
	http.NewResponseController(s.w).Flush()
	return nil
}

// WriteProgress renders one update.
func (s *JSONStream) WriteProgress(p progress.Progress) error {
	m := streamMessage{Message: jsonstream.Message{ID: p.ID, Status: p.Action}}
	if p.Aux != nil {
		raw, err := json.Marshal(p.Aux)
		if err != nil {
			return err
		}
		msg := json.RawMessage(raw)
		m.Aux = &msg
	}
	if p.Current > 0 || p.Total > 0 {
		m.Progress = &jsonstream.Progress{Current: p.Current, Total: p.Total}
		m.ProgressMessage = bar(p.Current, p.Total)
	}
	return s.write(m)
}

// Stream writes a plain text line ("stream" field), as load does for its
// "Loaded image: ..." lines.
func (s *JSONStream) Stream(text string) error {
	return s.write(streamMessage{Message: jsonstream.Message{Stream: text}})
}

// Error writes err as the stream's final message.
func (s *JSONStream) Error(err error) error {
	return s.write(streamMessage{
		Message:      jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}},
		ErrorMessage: err.Error(),
	})
}

// bar renders Docker's text progress bar: [=====>     ]  1.2MB/3.4MB.
func bar(current, total int64) string {
	if total <= 0 {
		return units.HumanSize(float64(current))
	}
	const width = 50
	n := int(float64(width) * float64(current) / float64(total))
	n = min(max(n, 0), width)
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return "[" + b + "] " + units.HumanSize(float64(current)) + "/" + units.HumanSize(float64(total))
}
