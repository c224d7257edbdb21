// Package events keeps the daemon's recent events in a ring buffer and fans
// new ones out to subscribers (GET /events). Every subsystem publishes through
// the Daemon, which owns one Events.
package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// bufferSize is how many past events `since` can replay.
const bufferSize = 1024

// subscriberBuffer is how far a slow subscriber may lag before it is dropped;
// a stuck client must never block a volume create.
const subscriberBuffer = 256

// Events is the daemon's event log.
type Events struct {
	mu   sync.Mutex
	ring []events.Message // oldest first once full
	next int
	full bool
	subs map[*Subscription]struct{}
}

// New returns an empty event log.
func New() *Events {
	return &Events{ring: make([]events.Message, bufferSize), subs: map[*Subscription]struct{}{}}
}

// Subscription receives events published after Subscribe. C is closed when
// the subscriber fell too far behind or was cancelled.
type Subscription struct {
	C      <-chan events.Message
	c      chan events.Message
	filter func(events.Message) bool
	e      *Events
}

// Log publishes an event of type typ about the object id.
func (e *Events) Log(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	m := events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ring[e.next] = m
	e.next = (e.next + 1) % len(e.ring)
	if e.next == 0 {
		e.full = true
	}
	for s := range e.subs {
		if s.filter != nil && !s.filter(m) {
			continue
		}
		select {
		case s.c <- m:
		default:
			delete(e.subs, s)
			close(s.c)
		}
	}
}

// Subscribe returns the buffered events accepted by filter (oldest first) and
// a subscription for the events that follow, with no gap or overlap between.
func (e *Events) Subscribe(filter func(events.Message) bool) ([]events.Message, *Subscription) {
	c := make(chan events.Message, subscriberBuffer)
	s := &Subscription{C: c, c: c, filter: filter, e: e}
	e.mu.Lock()
	defer e.mu.Unlock()
	var past []events.Message
	add := func(ms []events.Message) {
		for _, m := range ms {
			if filter == nil || filter(m) {
				past = append(past, m)
			}
		}
	}
	if e.full {
		add(e.ring[e.next:])
	}
	add(e.ring[:e.next])
	e.subs[s] = struct{}{}
	return past, s
}

// Cancel ends the subscription and closes C.
func (s *Subscription) Cancel() {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if _, ok := s.e.subs[s]; ok {
		delete(s.e.subs, s)
		close(s.c)
	}
}
