// Package record encodes the typed binary records that travel between the
// stages of the streaming path: an observation from the user stage to the
// address stage (repartition topic) and a feature record from either
// stage to the ClickHouse sink (features topic). An event is decoded from
// JSON once, where it enters; every later hop reads these records.
//
// Format, version 2. Every record starts with two bytes: the format
// version (2) and the kind ('O' observation, 'F' feature record). A reader
// that meets another version returns an error wrapping ErrVersion and reads
// nothing else: the caller counts it and dead-letters the message, so that
// a fleet in the middle of an upgrade never misreads a newer record. After
// the two bytes come fields in a fixed order, with no names:
//
//   - integers: signed as zig-zag varints, counts and sizes as uvarints
//     (encoding/binary);
//   - floats: IEEE 754 bits, 8 bytes little-endian;
//   - booleans: one byte, 0 or 1; a group of flags, one byte of bits;
//   - strings and byte strings: a uvarint length, then the bytes.
//
// The event (event.go), the detector features (features_gen.go, generated
// from detectors.Features) and each record's own fields (observation.go,
// feature.go) say their order. A change of order or of a field's type is
// a new version. A reader reads its own version only: a record of another
// is set aside with its reason, never misread, which is why a release that
// changes the version is rolled out with the topics drained (README,
// "Upgrading").
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the format version this package writes. Version 2 added the
// features of issue 13 (long windows, networks, stuffing, the payment day)
// among version 1's, so a version 1 record is not read: it is set aside as
// of an unknown version (README, "Upgrading").
const Version = 2

// Kinds of record, the second byte.
const (
	KindObservation = 'O'
	KindFeature     = 'F'
)

// ErrVersion is wrapped by the error of a record whose format version this
// binary cannot read.
var ErrVersion = errors.New("unknown record format version")

// header checks a record's version and kind and returns its body.
func header(b []byte, kind byte) ([]byte, error) {
	switch {
	case len(b) < 2:
		return nil, errors.New("record: shorter than its 2-byte header")
	case b[0] != Version:
		return nil, fmt.Errorf("record: version %d, this binary reads %d: %w", b[0], Version, ErrVersion)
	case b[1] != kind:
		return nil, fmt.Errorf("record: kind %q where %q was expected", b[1], kind)
	}
	return b[2:], nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendFloat(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendInt(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// reader reads the fields of a record body in order. The first problem
// sticks: later reads return zero values, and err says what and where.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("record: %s at byte %d", what, r.off)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b, r.off = r.b[1:], r.off+1
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("a boolean other than 0 or 1")
	return false
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b, r.off = r.b[n:], r.off+n
	return v
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b, r.off = r.b[n:], r.off+n
	return v
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail("truncated float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b, r.off = r.b[8:], r.off+8
	return v
}

// bytes returns the next byte string, aliasing the record.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("a length past the end")
		return nil
	}
	v := r.b[:n:n]
	r.b, r.off = r.b[n:], r.off+int(n)
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

// end reports the first problem, or bytes left over after the last field.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("record: %d bytes after the last field", len(r.b))
	}
	return r.err
}
