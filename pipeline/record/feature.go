package record

import (
	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Stages of a feature record.
const (
	StageUser = 0
	StageIP   = 1
)

// Feature is a message of the features topic: an accepted event as the
// user stage saw it, or a login attempt as the address stage saw it (the
// same, plus the address features). It holds everything the rules read,
// so that a backtest over the stored rows is exact, and the sink makes a
// row of it without decoding the event again.
//
// Body, version 2: stage (byte: 0 user, 1 address), rules_version
// (string), the event with its enrichment, the input as received (bytes,
// stored as event_json), and the features, Fired and Summary included.
type Feature struct {
	Stage        uint8
	RulesVersion string
	Event        event.Event
	Raw          []byte // the input message's value (aliases the record when decoded)
	Features     detectors.Features
}

// AppendFeature appends f's record to b.
func AppendFeature(b []byte, f *Feature) []byte {
	b = append(b, Version, KindFeature, f.Stage)
	b = appendString(b, f.RulesVersion)
	b = appendEvent(b, &f.Event)
	b = appendBytes(b, f.Raw)
	return appendFeatures(b, &f.Features)
}

// DecodeFeature reads a feature record into f. The error wraps ErrVersion
// for a record of another format version; any error means f is not to be
// used. f.Raw aliases b.
func DecodeFeature(b []byte, f *Feature) error {
	body, err := header(b, KindFeature)
	if err != nil {
		return err
	}
	r := reader{b: body}
	*f = Feature{}
	if f.Stage = r.byte(); f.Stage > StageIP {
		r.fail("unknown stage")
	}
	f.RulesVersion = r.string()
	readEvent(&r, &f.Event)
	f.Raw = r.bytes()
	readFeatures(&r, &f.Features)
	return r.end()
}
