package jsonfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readRaw decodes every line of one file with encoding/json.
func readRaw(t *testing.T, name string) []jsonLog {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonLog
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e jsonLog
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", name, sc.Bytes(), err)
		}
		out = append(out, e)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", name)
	}
	return out
}

func logs(es []jsonLog) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Stream+":"+e.Log)
	}
	return s
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(nil)
	if err != nil || o != (WriterOptions{MaxSize: 0, MaxFiles: 1}) {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = ParseOptions(map[string]string{"max-size": "10m", "max-file": "3", "compress": "false",
		"labels": "a", "labels-regex": "b", "env": "c", "env-regex": "d", "tag": "{{.ID}}", "mode": "non-blocking", "max-buffer-size": "4m"})
	if err != nil || o != (WriterOptions{MaxSize: 10_000_000, MaxFiles: 3}) {
		t.Fatalf("got %+v %v", o, err)
	}
	o, err = ParseOptions(map[string]string{"max-size": "1k"})
	if err != nil || o.MaxSize != 1000 {
		t.Fatalf("got %+v %v", o, err)
	}
	for _, tc := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"foo": "bar"}, "unknown log opt 'foo' for json-file log driver"},
		{map[string]string{"max-file": "0"}, "max-file cannot be less than 1"},
		{map[string]string{"max-file": "x"}, "invalid syntax"},
		{map[string]string{"max-size": "0"}, "max-size must be a positive number"},
		{map[string]string{"max-size": "lots"}, "invalid size"},
		{map[string]string{"compress": "true"}, "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{map[string]string{"compress": "true", "max-size": "1m", "max-file": "2"}, "not supported"},
		{map[string]string{"compress": "maybe"}, "invalid syntax"},
		{map[string]string{"mode": "fast"}, "mode not supported"},
	} {
		_, err := ParseOptions(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: got error %v, want %q", tc.opts, err, tc.err)
		}
	}
}

func TestLineSplitting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := w.StreamWriter("stdout")
	errw := w.StreamWriter("stderr")
	write := func(sw interface{ Write([]byte) (int, error) }, s string) {
		t.Helper()
		if n, err := sw.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	write(out, "hel")
	write(errw, "e1\ne2")
	write(out, "lo\nwor")
	write(out, "ld\n\nx\ny")
	write(errw, "\n")
	big := strings.Repeat("a", maxLineSize)
	write(out, "\n"+big[:100])
	write(out, big[100:]) // exactly 16 KiB without newline: flushed
	write(out, "\n")      // then the newline on its own, as Docker does
	write(out, big+"b\n") // 16 KiB + "b\n"
	write(out, big[:maxLineSize-1]+"\n")
	write(out, "tail")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
	write(errw, "unterminated")
	if err := w.Close(); err != nil { // flushes errw's partial line
		t.Fatal(err)
	}
	if _, err := errw.Write([]byte("x")); err == nil {
		t.Fatal("write after writer close succeeded")
	}
	got := logs(readRaw(t, path))
	want := []string{
		"stderr:e1\n", "stdout:hello\n", "stdout:world\n", "stdout:\n", "stdout:x\n", "stderr:e2\n", "stdout:y\n",
		"stdout:" + big, "stdout:\n",
		"stdout:" + big, "stdout:b\n",
		"stdout:" + big[:maxLineSize-1] + "\n",
		"stdout:tail", "stderr:unterminated",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestAppendToExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	for i := 0; i < 3; i++ {
		w, err := NewWriter(path, WriterOptions{MaxSize: 1 << 20, MaxFiles: 2})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w.StreamWriter("stdout"), "run %d\n", i)
		w.Close()
	}
	got := logs(readRaw(t, path))
	if want := "stdout:run 0\n|stdout:run 1\n|stdout:run 2\n"; strings.Join(got, "|") != want {
		t.Fatalf("got %q", got)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestRotation(t *testing.T) {
	for _, maxFiles := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("max-file=", maxFiles), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c-json.log")
			const maxSize = 1000
			w, err := NewWriter(path, WriterOptions{MaxSize: maxSize, MaxFiles: maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			sw := w.StreamWriter("stdout")
			var all []string
			for i := 0; i < 500; i++ {
				line := fmt.Sprintf("line %04d\n", i)
				all = append(all, "stdout:"+line)
				if i%7 == 0 { // several lines in one write, too
					line += fmt.Sprintf("line %04d\n", i+1)
					i++
					all = append(all, "stdout:"+fmt.Sprintf("line %04d\n", i))
				}
				sw.Write([]byte(line))
			}
			w.Close()
			ents, _ := os.ReadDir(dir)
			if len(ents) != maxFiles {
				t.Fatalf("want %d files, got %v", maxFiles, ents)
			}
			var got []string
			for i := maxFiles - 1; i >= 0; i-- {
				name := path
				if i > 0 {
					name = fmt.Sprintf("%s.%d", path, i)
				}
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > maxSize+100 || (i > 0 && st.Size() < maxSize) {
					t.Fatalf("%s has size %d", name, st.Size())
				}
				got = append(got, logs(readRaw(t, name))...)
			}
			if len(got) == 0 || len(got) >= len(all) {
				t.Fatalf("got %d lines", len(got))
			}
			if want := all[len(all)-len(got):]; strings.Join(got, "") != strings.Join(want, "") {
				t.Fatalf("content mismatch:\n%q\n%q", got, want)
			}
		})
	}
}

func TestRotationEntrySizeBeyondMaxSize(t *testing.T) {
	// Entries larger than max-size still go out whole, one per file.
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(path, WriterOptions{MaxSize: 10, MaxFiles: 3})
	sw := w.StreamWriter("stderr")
	sw.Write([]byte("one\ntwo\nthree\nfour\n"))
	w.Close()
	for i, want := range []string{"stderr:four\n", "stderr:three\n", "stderr:two\n"} {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		if got := logs(readRaw(t, name)); len(got) != 1 || got[0] != want {
			t.Fatalf("%s: %q", name, got)
		}
	}
	_ = time.Now
}
