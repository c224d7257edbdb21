package jsonfile

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"
	"unicode/utf8"
)

func randomBytes(rng *rand.Rand) []byte {
	n := rng.Intn(40)
	var b []byte
	for i := 0; i < n; i++ {
		switch rng.Intn(8) {
		case 0:
			b = append(b, byte(rng.Intn(0x20))) // control
		case 1:
			s := "<>&\"\\/\x7f\n\t\r\b\f"
			b = append(b, s[rng.Intn(len(s))])
		case 2:
			b = append(b, byte(0x80+rng.Intn(0x80))) // stray/invalid UTF-8
		case 3:
			b = utf8.AppendRune(b, []rune{'\u2028', '\u2029', 'é', '€', '😀', '\ufffd', '\uffff', 0x10FFFF}[rng.Intn(8)])
		case 4:
			b = utf8.AppendRune(b, rune(rng.Intn(0x10FFFF)))
		case 5:
			// truncated multi-byte sequence
			r := utf8.AppendRune(nil, rune(0x80+rng.Intn(0x10000)))
			b = append(b, r[:len(r)-1]...)
		default:
			b = append(b, byte(0x20+rng.Intn(0x5f)))
		}
	}
	return b
}

type jsonLog struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		in := randomBytes(rng)
		want, err := json.Marshal(string(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, in); !bytes.Equal(got, want) {
			t.Fatalf("input %q:\n got %s\nwant %s", in, got, want)
		}
	}
	// Every single byte and every rune class boundary.
	for b := 0; b < 256; b++ {
		want, _ := json.Marshal(string([]byte{byte(b)}))
		if got := appendJSONString(nil, []byte{byte(b)}); !bytes.Equal(got, want) {
			t.Fatalf("byte %#x: got %s want %s", b, got, want)
		}
	}
}

func TestAppendEntryMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		in := randomBytes(rng)
		ts := time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)*int64(rng.Intn(2)))
		if i%3 == 0 {
			ts = ts.Truncate(time.Millisecond)
		}
		stream := []string{"stdout", "stderr"}[i%2]
		want, err := json.Marshal(jsonLog{Log: string(in), Stream: stream, Time: ts.UTC()})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		got := appendEntry(nil, in, stream, ts.In(time.FixedZone("X", 3600)))
		if !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
	got := string(appendEntry(nil, []byte("hello\n"), "stdout", time.Date(2026, 11, 22, 13, 15, 15, 123456789, time.UTC)))
	if want := `{"log":"hello\n","stream":"stdout","time":"2026-11-22T13:15:15.123456789Z"}` + "\n"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	check := func(line []byte) {
		t.Helper()
		var want jsonLog
		werr := json.Unmarshal(line, &want)
		got, ok := decodeEntry(line)
		if (werr == nil) != ok {
			t.Fatalf("%s: ok=%v, encoding/json err=%v", line, ok, werr)
		}
		if !ok {
			return
		}
		if string(got.Line) != want.Log || got.Stream != want.Stream || !got.Time.Equal(want.Time) {
			t.Fatalf("%s: got %+v want %+v", line, got, want)
		}
	}
	for i := 0; i < 50000; i++ {
		in := randomBytes(rng)
		ts := time.Unix(rng.Int63n(4e9), rng.Int63n(1e9))
		line := appendEntry(nil, in, "stderr", ts)
		line = line[:len(line)-1]
		e, ok := decodeFast(line)
		if !ok {
			t.Fatalf("fast path rejected our own output %s", line)
		}
		if want := bytes.ToValidUTF8(in, []byte("\ufffd")); !bytes.Equal(e.Line, want) && utf8.Valid(in) {
			t.Fatalf("round trip %q -> %q", in, e.Line)
		}
		if !e.Time.Equal(ts) || e.Stream != "stderr" {
			t.Fatalf("bad entry %+v", e)
		}
		check(line)
	}
	// Hand-written variants that encoding/json accepts (or rejects).
	for _, s := range []string{
		`{"log":"a\/b\u00e9\u00E9\ud83d\ude00 \ud800x","stream":"stdout","time":"2026-11-22T13:15:15Z"}`,
		`{"log":"raw é and \xff invalid","stream":"stdout","time":"2026-11-22T13:15:15Z"}`,
		`{"stream":"stdout","log":"reordered\n","time":"2026-11-22T13:15:15.5+01:00"}`,
		`{"log":"x\n","stream":"stdout","attrs":{"a":"b"},"time":"2026-11-22T13:15:15Z"}`,
		`{"log":"bad escape \q","stream":"stdout","time":"2026-11-22T13:15:15Z"}`,
		`{"log":"truncated`,
		`{"log":"x","stream":"stdout","time":"2026-11-22T13:15:15Z"} `,
		`{"log":"x","stream":"stdout","time":"not a time"}`,
		``,
	} {
		check([]byte(s))
	}
}
