package events

import (
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func TestReplayThenLive(t *testing.T) {
	e := New()
	e.Log(events.VolumeEventType, events.ActionCreate, "a", nil)
	e.Log(events.VolumeEventType, events.ActionDestroy, "a", nil)
	onlyCreates := func(m events.Message) bool { return m.Action == events.ActionCreate }
	past, sub := e.Subscribe(onlyCreates)
	defer sub.Cancel()
	if len(past) != 1 || past[0].Actor.ID != "a" || past[0].Scope != "local" || past[0].TimeNano == 0 {
		t.Fatalf("past = %+v", past)
	}
	e.Log(events.VolumeEventType, events.ActionDestroy, "b", nil)
	e.Log(events.VolumeEventType, events.ActionCreate, "b", nil)
	select {
	case m := <-sub.C:
		if m.Actor.ID != "b" || m.Action != events.ActionCreate {
			t.Fatalf("live = %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("no live event")
	}
}

func TestRingKeepsNewest(t *testing.T) {
	e := New()
	for i := 0; i < bufferSize+10; i++ {
		e.Log(events.VolumeEventType, events.ActionCreate, fmt.Sprint(i), nil)
	}
	past, sub := e.Subscribe(nil)
	sub.Cancel()
	if len(past) != bufferSize || past[0].Actor.ID != "10" || past[len(past)-1].Actor.ID != fmt.Sprint(bufferSize+9) {
		t.Fatalf("got %d events from %s to %s", len(past), past[0].Actor.ID, past[len(past)-1].Actor.ID)
	}
}

func TestSlowSubscriberIsDroppedNotBlocking(t *testing.T) {
	e := New()
	_, sub := e.Subscribe(nil)
	done := make(chan struct{})
	go func() {
		for i := 0; i < subscriberBuffer*3; i++ {
			e.Log(events.VolumeEventType, events.ActionCreate, "x", nil)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Log blocked on a subscriber that does not read")
	}
	n := 0
	for range sub.C {
		n++
	}
	if n != subscriberBuffer {
		t.Fatalf("read %d events before the channel closed, want %d", n, subscriberBuffer)
	}
	sub.Cancel() // cancelling a dropped subscription is harmless
}
