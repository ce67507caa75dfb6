package record

import (
	"errors"
	"math"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Observation is a message of the repartition topic: a login attempt on
// its way to the address stage with what the user stage computed for it,
// or a heartbeat that carries only the sender's progress.
//
// Body, version 2: source (uvarint), sources (uvarint), watermark
// (varint, Unix ms; math.MinInt64 before the first event), flags (byte:
// caught 1, heartbeat 2); then, unless a heartbeat, the event with its
// enrichment, the input as received (bytes, for event_json) and the
// user stage's features, Fired and Summary included.
type Observation struct {
	// Source is the user-stage partition that sent it, of Sources, whose
	// worker had decided events up to Watermark (Unix ms).
	Source, Sources int
	Watermark       int64
	Caught          bool // the sender had read all its input
	Heartbeat       bool // only the above, sent to every address partition
	Event           event.Event
	Raw             []byte // the input message's value (aliases the record when decoded)
	Features        detectors.Features
}

// AppendObservation appends o's record to b.
func AppendObservation(b []byte, o *Observation) []byte {
	b = append(b, Version, KindObservation)
	b = appendInt(b, int64(o.Source))
	b = appendInt(b, int64(o.Sources))
	b = appendInt(b, o.Watermark)
	b = append(b, flags(o.Caught, o.Heartbeat))
	if o.Heartbeat {
		return b
	}
	b = appendEvent(b, &o.Event)
	b = appendBytes(b, o.Raw)
	return appendFeatures(b, &o.Features)
}

// DecodeObservation reads an observation record into o. The error wraps
// ErrVersion for a record of another format version; any error means o is
// not to be used. o.Raw aliases b.
func DecodeObservation(b []byte, o *Observation) error {
	body, err := header(b, KindObservation)
	if err != nil {
		return err
	}
	r := reader{b: body}
	*o = Observation{}
	src, n, mark := r.int(), r.int(), r.int()
	if r.err == nil && (src < 0 || n < 1 || src >= n || n > math.MaxInt32) {
		return errors.New("record: source partition outside 0..sources-1")
	}
	o.Source, o.Sources, o.Watermark = int(src), int(n), mark
	f := r.byte()
	if f >= 4 {
		r.fail("unknown observation flags")
	}
	o.Caught, o.Heartbeat = f&1 != 0, f&2 != 0
	if !o.Heartbeat {
		readEvent(&r, &o.Event)
		o.Raw = r.bytes()
		readFeatures(&r, &o.Features)
	}
	return r.end()
}
