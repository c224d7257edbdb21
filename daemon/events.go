package daemon

import (
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berth-engine/berth/api/types/filters"
)

// SubscribeToEvents returns the buffered events in [since, until] that pass
// f, and a channel of the events that follow.
func (d *Daemon) SubscribeToEvents(since, until time.Time, f filters.Args) ([]events.Message, <-chan events.Message, func(), error) {
	if err := f.Validate("type", "event", "volume", "daemon", "label", "scope", "container", "image", "network"); err != nil {
		return nil, nil, nil, err
	}
	match := func(m events.Message) bool {
		if !f.ExactMatch("type", string(m.Type)) || !f.ExactMatch("event", string(m.Action)) || !f.ExactMatch("scope", m.Scope) {
			return false
		}
		for _, typ := range []events.Type{events.VolumeEventType, events.DaemonEventType, events.ContainerEventType, events.ImageEventType, events.NetworkEventType} {
			key := string(typ)
			if f.Has(key) && (m.Type != typ || !(f.ExactMatch(key, m.Actor.ID) || f.ExactMatch(key, m.Actor.Attributes["name"]))) {
				return false
			}
		}
		return f.MatchKVList("label", m.Actor.Attributes)
	}
	past, sub := d.events.Subscribe(match)
	kept := past[:0]
	for _, m := range past {
		t := time.Unix(0, m.TimeNano)
		if (since.IsZero() && until.IsZero()) || (!since.IsZero() && t.Before(since)) || (!until.IsZero() && t.After(until)) {
			continue
		}
		kept = append(kept, m)
	}
	return kept, sub.C, sub.Cancel, nil
}
