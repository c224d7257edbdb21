package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// eventStream is an open GET /events.
type eventStream struct {
	t  testing.TB
	ch chan events.Message
}

// streamEvents opens GET /events?<query> and returns once the daemon has
// answered (so the subscription exists). The stream is closed at cleanup.
func (d *daemon) streamEvents(query string) *eventStream {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://berth/events?"+query, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatalf("GET /events: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		d.t.Fatalf("GET /events?%s: status %d", query, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		d.t.Errorf("GET /events Content-Type = %q, want application/json", ct)
	}
	s := &eventStream{t: d.t, ch: make(chan events.Message, 1024)}
	go func() {
		defer resp.Body.Close()
		defer close(s.ch)
		dec := json.NewDecoder(resp.Body)
		for {
			var m events.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			s.ch <- m
		}
	}()
	return s
}

// next returns the next event, failing the test if none comes within 10s.
func (s *eventStream) next() events.Message {
	s.t.Helper()
	select {
	case m, ok := <-s.ch:
		if !ok {
			s.t.Fatal("event stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

// expect reads the next event and checks its type, action and actor.
func (s *eventStream) expect(typ events.Type, action events.Action, actor string) events.Message {
	s.t.Helper()
	m := s.next()
	if m.Type != typ || m.Action != action || m.Actor.ID != actor {
		s.t.Fatalf("event %s %s %q, want %s %s %q", m.Type, m.Action, m.Actor.ID, typ, action, actor)
	}
	if m.Time == 0 || m.TimeNano == 0 || m.Scope != "local" {
		s.t.Errorf("event %s %s: Time %d TimeNano %d Scope %q", m.Type, m.Action, m.Time, m.TimeNano, m.Scope)
	}
	return m
}

func TestEventsStreamVolumeLifecycle(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	all := d.streamEvents("")
	vols := d.streamEvents(filtersQuery(map[string][]string{"type": {"volume"}}))

	d.createVolume("ev1", nil)
	anon := d.createVolume("", nil)
	expectStatus(t, d.do(http.MethodDelete, "/volumes/ev1", nil), http.StatusNoContent, "DELETE /volumes/ev1")
	expectStatus(t, d.do(http.MethodPost, "/volumes/prune", nil), http.StatusOK, "POST /volumes/prune")

	for _, s := range []*eventStream{all, vols} {
		m := s.expect(events.VolumeEventType, events.ActionCreate, "ev1")
		if m.Actor.Attributes["driver"] != "local" {
			t.Errorf("create event attributes %v, want driver=local", m.Actor.Attributes)
		}
		s.expect(events.VolumeEventType, events.ActionCreate, anon.Name)
		m = s.expect(events.VolumeEventType, events.ActionDestroy, "ev1")
		if m.Actor.Attributes["driver"] != "local" {
			t.Errorf("destroy event attributes %v, want driver=local", m.Actor.Attributes)
		}
		s.expect(events.VolumeEventType, events.ActionDestroy, anon.Name)
		m = s.next()
		if m.Type != events.VolumeEventType || m.Action != events.ActionPrune {
			t.Errorf("event after prune's destroys: %s %s, want volume prune", m.Type, m.Action)
		}
	}
}

// eventsBetween runs a bounded GET /events (since and until set, so the
// answer ends) and returns the events.
func (d *daemon) eventsBetween(since, until time.Time, f map[string][]string) []events.Message {
	d.t.Helper()
	q := url.Values{}
	q.Set("since", unixString(since))
	q.Set("until", unixString(until))
	query := q.Encode()
	if f != nil {
		query += "&" + filtersQuery(f)
	}
	r := d.do(http.MethodGet, "/events?"+query, nil)
	expectStatus(d.t, r, http.StatusOK, "GET /events?"+query)
	var out []events.Message
	dec := json.NewDecoder(bytes.NewReader(r.body))
	for dec.More() {
		var m events.Message
		if err := dec.Decode(&m); err != nil {
			d.t.Fatalf("decoding events %q: %v", r.body, err)
		}
		out = append(out, m)
	}
	return out
}

func unixString(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

func describe(ms []events.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s %s %s", m.Type, m.Action, m.Actor.ID))
	}
	return out
}

func TestEventsSinceUntilAndFilters(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	// The clock the daemon stamps events with is this host's.
	t0 := time.Now().Add(-time.Millisecond)
	d.createVolume("a", map[string]string{"tier": "gold"})
	d.createVolume("b", nil)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	expectStatus(t, d.do(http.MethodDelete, "/volumes/a", nil), http.StatusNoContent, "DELETE /volumes/a")
	d.createVolume("c", nil)
	end := time.Now().Add(time.Millisecond)

	onlyVolumes := func(ms []events.Message) []events.Message {
		var out []events.Message
		for _, m := range ms {
			if m.Type == events.VolumeEventType {
				out = append(out, m)
			}
		}
		return out
	}
	cases := []struct {
		name         string
		since, until time.Time
		filters      map[string][]string
		rawFilters   string
		volumesOnly  bool
		want         []string
	}{
		{name: "all", since: t0, until: end, volumesOnly: true,
			want: []string{"volume create a", "volume create b", "volume destroy a", "volume create c"}},
		{name: "until mid", since: t0, until: mid, volumesOnly: true,
			want: []string{"volume create a", "volume create b"}},
		{name: "since mid", since: mid, until: end, volumesOnly: true,
			want: []string{"volume destroy a", "volume create c"}},
		{name: "type volume", since: t0, until: end, filters: map[string][]string{"type": {"volume"}},
			want: []string{"volume create a", "volume create b", "volume destroy a", "volume create c"}},
		{name: "event destroy", since: t0, until: end, filters: map[string][]string{"type": {"volume"}, "event": {"destroy"}},
			want: []string{"volume destroy a"}},
		{name: "volume b", since: t0, until: end, filters: map[string][]string{"volume": {"b"}},
			want: []string{"volume create b"}},
		{name: "volume a or c", since: t0, until: end, filters: map[string][]string{"volume": {"a", "c"}},
			want: []string{"volume create a", "volume destroy a", "volume create c"}},
		{name: "event create, volume c", since: t0, until: end, filters: map[string][]string{"event": {"create"}, "volume": {"c"}},
			want: []string{"volume create c"}},
		{name: "legacy form", since: t0, until: end, rawFilters: `{"event":["destroy"],"type":["volume"]}`,
			want: []string{"volume destroy a"}},
		{name: "type daemon", since: t0, until: mid, filters: map[string][]string{"type": {"daemon"}},
			want: []string{}},
		{name: "type container", since: t0, until: end, filters: map[string][]string{"type": {"container"}},
			want: []string{}},
	}
	for _, c := range cases {
		var got []events.Message
		if c.rawFilters != "" {
			q := url.Values{}
			q.Set("since", unixString(c.since))
			q.Set("until", unixString(c.until))
			q.Set("filters", c.rawFilters)
			r := d.do(http.MethodGet, "/events?"+q.Encode(), nil)
			expectStatus(t, r, http.StatusOK, c.name)
			dec := json.NewDecoder(bytes.NewReader(r.body))
			for dec.More() {
				var m events.Message
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				got = append(got, m)
			}
		} else {
			got = d.eventsBetween(c.since, c.until, c.filters)
		}
		if c.rawFilters == "" && c.filters != nil {
			// The versioned path answers the same.
			q := url.Values{}
			q.Set("since", unixString(c.since))
			q.Set("until", unixString(c.until))
			r := d.do(http.MethodGet, "/v"+apiVersion+"/events?"+q.Encode()+"&"+filtersQuery(c.filters), nil)
			expectStatus(t, r, http.StatusOK, c.name+" (versioned)")
			if n := bytes.Count(r.body, []byte("\n")); n != len(got) {
				t.Errorf("%s: versioned path gave %d events, unversioned %d", c.name, n, len(got))
			}
		}
		if c.volumesOnly {
			got = onlyVolumes(got)
		}
		if g := describe(got); fmt.Sprint(g) != fmt.Sprint(c.want) {
			t.Errorf("%s: events %q, want %q", c.name, g, c.want)
		}
	}
}

func TestEventsSinceReplaysThenStreams(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	t0 := time.Now().Add(-time.Millisecond)
	d.createVolume("before", nil)
	// since without until: the past events, then the live ones.
	s := d.streamEvents("since=" + unixString(t0))
	s.expect(events.VolumeEventType, events.ActionCreate, "before")
	d.createVolume("after", nil)
	s.expect(events.VolumeEventType, events.ActionCreate, "after")

	// until in the future: the stream ends by itself once until has passed.
	until := time.Now().Add(3 * time.Second)
	bounded := d.streamEvents("since=" + unixString(t0) + "&until=" + unixString(until) + "&" +
		filtersQuery(map[string][]string{"type": {"volume"}}))
	bounded.expect(events.VolumeEventType, events.ActionCreate, "before")
	bounded.expect(events.VolumeEventType, events.ActionCreate, "after")
	d.createVolume("live", nil)
	bounded.expect(events.VolumeEventType, events.ActionCreate, "live")
	select {
	case m, ok := <-bounded.ch:
		if ok {
			t.Errorf("unexpected event %s %s %s after the bounded stream's events", m.Type, m.Action, m.Actor.ID)
		}
	case <-time.After(15 * time.Second):
		t.Error("GET /events with until did not end")
	}
	// A stream without since gets no past events.
	live := d.streamEvents(filtersQuery(map[string][]string{"type": {"volume"}}))
	d.createVolume("later", nil)
	live.expect(events.VolumeEventType, events.ActionCreate, "later")
}

func TestEventsBadInputs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	now := time.Now()
	for _, c := range []struct{ name, query, want string }{
		{"unknown filter", filtersQuery(map[string][]string{"bogus": {"x"}}), "invalid filter 'bogus'"},
		{"malformed filters", "filters=" + url.QueryEscape("{not json"), "invalid filter"},
		{"since after until", "since=" + unixString(now) + "&until=" + unixString(now.Add(-time.Hour)), "since"},
		{"bad since", "since=yesterday", "yesterday"},
		{"bad until", "until=soon", "soon"},
	} {
		r := d.do(http.MethodGet, "/events?"+c.query, nil)
		expectError(t, r, http.StatusBadRequest, c.want, c.name)
	}
}
