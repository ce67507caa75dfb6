package pipeline

import (
	"encoding"
	"fmt"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/rules"
)

// TrackChanges makes the engine remember which keys of stage's state each
// event changes, for Changes; replay does not need it and does not pay for
// it.
func (e *Engine) TrackChanges(stage rules.Stage) {
	if stage == rules.IPStage {
		e.ips.Store().Track()
	} else {
		e.users.Store().Track()
	}
}

// Changes calls f with every key of stage's state changed since the last
// call: its encoded state (a version byte, then the state), or nil when
// the key was dropped (evicted or expired), a tombstone. A state that
// cannot be encoded is reported as err, and skipped.
func (e *Engine) Changes(stage rules.Stage, f func(key string, value []byte)) error {
	if stage == rules.IPStage {
		return changes(e.ips.Store(), f)
	}
	return changes(e.users.Store(), f)
}

func changes[V any, P interface {
	*V
	encoding.BinaryMarshaler
}](s *detectors.Store[V], f func(key string, value []byte)) (err error) {
	s.Changes(func(key string, v *V) {
		if v == nil {
			f(key, nil)
			return
		}
		b, merr := P(v).MarshalBinary()
		if merr != nil {
			err = fmt.Errorf("state of %q: %w", key, merr)
			return
		}
		f(key, b)
	})
	return err
}

// Restore sets the state of key in stage from value, as Changes encoded
// it; a nil value drops the key. A value in an encoding version this
// binary cannot read is an error wrapping detectors.ErrStateVersion, and
// the key stays absent: it starts again empty rather than misread.
func (e *Engine) Restore(stage rules.Stage, key string, value []byte) error {
	if stage == rules.IPStage {
		return restore(e.ips.Store(), key, value)
	}
	return restore(e.users.Store(), key, value)
}

func restore[V any, P interface {
	*V
	encoding.BinaryUnmarshaler
}](s *detectors.Store[V], key string, value []byte) error {
	if value == nil {
		s.Delete(key)
		return nil
	}
	v := P(new(V))
	if err := v.UnmarshalBinary(value); err != nil {
		s.Delete(key)
		return fmt.Errorf("state of %q: %w", key, err)
	}
	s.Put(key, v)
	return nil
}
