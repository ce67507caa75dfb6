package detectors

import (
	"encoding/binary"
	"errors"
	"math"
)

// The binary state encoding (version 2) writes a state's fields in their
// declaration order: integers as varints (zigzag for signed), floats as 8
// little-endian bytes, strings and slices as a uvarint length then their
// contents, booleans as one byte. It has no field names: a change of
// fields is a new version, and the older version stays readable (see
// UnmarshalBinary).

// errCorrupt is wrapped by the error of a state that ends early or holds
// an impossible length.
var errCorrupt = errors.New("detectors: corrupt state encoding")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) float(v float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v))
}
func (e *encoder) str(s string) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// decoder reads what encoder wrote; after the first error every read
// returns zero and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) uint() uint64 { return varint(d, binary.Uvarint) }
func (d *decoder) int() int64   { return varint(d, binary.Varint) }

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// No state holds one (amounts and coordinates are finite), and
		// one would poison every mean and distance computed from it.
		d.fail()
		return 0
	}
	d.b = d.b[8:]
	return v
}

// uint32 reads a uvarint that must fit 32 bits.
func (d *decoder) uint32() uint32 {
	v := d.uint()
	if v > math.MaxUint32 {
		d.fail()
		return 0
	}
	return uint32(v)
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// count reads a slice length; each element takes at least min bytes, so a
// length the rest of the input cannot hold is corrupt (and allocates
// nothing).
func (d *decoder) count(min int) int {
	n := d.uint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

// encodeSlice writes s's length and each element with put.
func encodeSlice[T any](e *encoder, s []T, put func(*encoder, *T)) {
	e.uint(uint64(len(s)))
	for i := range s {
		put(e, &s[i])
	}
}

// decodeSlice reads a slice encodeSlice wrote; min is the fewest bytes an
// element takes. An empty slice decodes as nil.
func decodeSlice[T any](d *decoder, min int, get func(*decoder, *T)) []T {
	n := d.count(min)
	if n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		get(d, &s[i])
	}
	return s
}
