package jsonfile

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

var (
	prefixLog    = []byte(`{"log":"`)
	prefixStream = []byte(`,"stream":"`)
	prefixTime   = []byte(`,"time":"`)
)

// decodeEntry parses one log line (without its trailing '\n'). The returned
// Entry does not alias line. Lines written by this package (and by Docker
// without labels/env attrs) take an allocation-light fast path; anything else
// goes through encoding/json.
func decodeEntry(line []byte) (Entry, bool) {
	if e, ok := decodeFast(line); ok {
		return e, true
	}
	return decodeSlow(line)
}

func decodeSlow(line []byte) (Entry, bool) {
	var v struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return Entry{}, false
	}
	return Entry{Line: []byte(v.Log), Stream: internStream(v.Stream), Time: v.Time}, true
}

func internStream(s string) string {
	switch s {
	case "stdout":
		return "stdout"
	case "stderr":
		return "stderr"
	}
	return s
}

func internStreamBytes(b []byte) string {
	switch string(b) {
	case "stdout":
		return "stdout"
	case "stderr":
		return "stderr"
	}
	return string(b)
}

func decodeFast(line []byte) (Entry, bool) {
	line = bytes.TrimRight(line, " \t\r")
	if !bytes.HasPrefix(line, prefixLog) {
		return Entry{}, false
	}
	rest := line[len(prefixLog):]
	out, n, ok := unquote(rest)
	if !ok {
		return Entry{}, false
	}
	rest = rest[n:]
	if !bytes.HasPrefix(rest, prefixStream) {
		return Entry{}, false
	}
	rest = rest[len(prefixStream):]
	q := bytes.IndexByte(rest, '"')
	if q < 0 || bytes.IndexByte(rest[:q], '\\') >= 0 {
		return Entry{}, false
	}
	stream := rest[:q]
	rest = rest[q+1:]
	if !bytes.HasPrefix(rest, prefixTime) {
		return Entry{}, false
	}
	rest = rest[len(prefixTime):]
	q = bytes.IndexByte(rest, '"')
	if q < 0 || string(rest[q:]) != `"}` {
		return Entry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:q]))
	if err != nil {
		return Entry{}, false
	}
	return Entry{Line: out, Stream: internStreamBytes(stream), Time: t}, true
}

func unhex(b byte) (rune, bool) {
	switch {
	case '0' <= b && b <= '9':
		return rune(b - '0'), true
	case 'a' <= b && b <= 'f':
		return rune(b - 'a' + 10), true
	case 'A' <= b && b <= 'F':
		return rune(b - 'A' + 10), true
	}
	return 0, false
}

// unquote decodes the body of a JSON string s (after the opening quote) up
// to and including the closing quote, returning the decoded bytes and the
// number of input bytes consumed. Anything the fast path does not handle
// exactly like encoding/json (surrogate escapes, invalid UTF-8) reports !ok.
func unquote(s []byte) ([]byte, int, bool) {
	// Fast scan for the common case without escapes.
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	if i < len(s) && s[i] == '"' {
		return bytes.Clone(s[:i]), i + 1, true
	}
	out := make([]byte, i, i+64)
	copy(out, s[:i])
	high := false
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if high && !utf8.Valid(out) {
				return nil, 0, false
			}
			return out, i + 1, true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				out = append(out, s[i+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if i+6 > len(s) {
					return nil, 0, false
				}
				var r rune
				for _, h := range s[i+2 : i+6] {
					v, ok := unhex(h)
					if !ok {
						return nil, 0, false
					}
					r = r<<4 | v
				}
				if r >= 0xD800 && r < 0xE000 { // surrogates: leave to encoding/json
					return nil, 0, false
				}
				out = utf8.AppendRune(out, r)
				i += 4
			default:
				return nil, 0, false
			}
			i += 2
		case c < 0x20:
			return nil, 0, false
		default:
			if c >= utf8.RuneSelf {
				high = true
			}
			out = append(out, c)
			i++
		}
	}
	return nil, 0, false
}
