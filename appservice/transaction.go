package appservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/event"
)

var errNotJSON = errors.New("body is not valid JSON")

// decodeTransaction reads the events of a pushed transaction. An event that cannot be read is
// skipped and counted rather than failing the transaction: a refused transaction is retried by
// the homeserver forever and blocks every later one.
func decodeTransaction(body []byte) (events []*event.Event, skipped int, err error) {
	if !json.Valid(body) {
		return nil, 0, errNotJSON
	}
	var txn struct {
		Events []json.RawMessage `json:"events"`
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, 0, errors.New("transaction is not a JSON object")
	}
	if err := json.Unmarshal(body, &txn); err != nil {
		return nil, 0, fmt.Errorf("transaction has the wrong shape: %w", err)
	}
	events = make([]*event.Event, 0, len(txn.Events))
	for _, raw := range txn.Events {
		evt := &event.Event{}
		if err := json.Unmarshal(raw, evt); err != nil || evt.Type.Type == "" {
			skipped++
			continue
		}
		if evt.StateKey != nil {
			evt.Type.Class = event.StateEventType
		} else {
			evt.Type.Class = event.MessageEventType
		}
		// Content stays raw when its type is unknown or it does not fit the expected shape; the
		// handler decides what it needs.
		if evt.Content.Raw != nil {
			if err := evt.Content.ParseRaw(evt.Type); err != nil {
				evt.Content.Parsed = nil
			}
		}
		events = append(events, evt)
	}
	return events, skipped, nil
}
