package pipeline

import (
	"encoding"
	"errors"
	"fmt"
	"net/netip"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/rules"
)

// TrackChanges makes the engine remember which keys of stage's state each
// event changes, for Changes; replay does not need it and does not pay for
// it.
func (e *Engine) TrackChanges(stage rules.Stage) {
	if stage == rules.IPStage {
		e.ips.Store().Track()
		e.ips.Networks().Track()
	} else {
		e.users.Store().Track()
	}
}

// Changes calls f with every key of stage's state changed since the last
// call: its encoded state (a version byte, then the state), or nil when
// the key was dropped (evicted or expired), a tombstone. A state that
// cannot be encoded is reported as err, and skipped. The address stage's
// keys are its addresses and its networks, a network's key its prefix
// (5.188.7.0/24), which no address's text can be.
func (e *Engine) Changes(stage rules.Stage, f func(key string, value []byte)) error {
	if stage == rules.IPStage {
		return errors.Join(changes(e.ips.Store(), detectors.IPKey.String, f), changes(e.ips.Networks(), netip.Prefix.String, f))
	}
	return changes(e.users.Store(), userKey, f)
}

// userKey is a user's changelog key: the user id the store keys by.
func userKey(id string) string { return id }

// parseUserKey reads a user's changelog key: any text is a user id.
func parseUserKey(key string) (string, error) { return key, nil }

// changes encodes s's changes for f, each key as text (the store keys
// addresses by their bytes). The values are appended to one buffer per
// call and f gets slices of it, rather than one allocation per state; a
// full buffer is replaced, never reused, so the values stay f's.
func changes[K comparable, V any, P interface {
	*V
	encoding.BinaryAppender
}](s *detectors.Store[K, V], text func(K) string, f func(key string, value []byte)) (err error) {
	var buf []byte
	s.Changes(func(k K, v *V) {
		key := text(k)
		if v == nil {
			f(key, nil)
			return
		}
		if cap(buf)-len(buf) < 256 {
			// 512 bytes for the few states of a light batch, doubling to
			// 64 KB for a busy one's.
			buf = make([]byte, 0, min(max(512, 2*cap(buf)), 64<<10))
		}
		start := len(buf)
		b, merr := P(v).AppendBinary(buf)
		if merr != nil {
			err = fmt.Errorf("state of %q: %w", key, merr)
			return
		}
		// Only ever appended to: the values handed out stay as they are,
		// in this array or, after append moved on, the old one.
		buf = b
		f(key, b[start:len(b):len(b)])
	})
	return err
}

// Restore sets the state of key in stage from value, as Changes encoded
// it; a nil value drops the key. A value in an encoding version this
// binary cannot read is an error wrapping detectors.ErrStateVersion, and
// the key stays absent: it starts again empty rather than misread.
func (e *Engine) Restore(stage rules.Stage, key string, value []byte) error {
	switch {
	case stage == rules.IPStage && detectors.IsNetworkKey(key):
		return restore(e.ips.Networks(), detectors.ParseNetworkKey, key, value)
	case stage == rules.IPStage:
		return restore(e.ips.Store(), detectors.ParseIPKey, key, value)
	}
	return restore(e.users.Store(), parseUserKey, key, value)
}

// restore sets key's state in s from value. A key that parse refuses is
// an error, and no state: no event could key it (an address the address
// stage does not write so), and keeping it under another key would change
// the key of its next change.
func restore[K comparable, V any, P interface {
	*V
	encoding.BinaryUnmarshaler
}](s *detectors.Store[K, V], parse func(string) (K, error), text string, value []byte) error {
	key, err := parse(text)
	if err != nil {
		return fmt.Errorf("state of %q: %w", text, err)
	}
	if value == nil {
		s.Delete(key)
		return nil
	}
	v := P(new(V))
	if err := v.UnmarshalBinary(value); err != nil {
		s.Delete(key)
		return fmt.Errorf("state of %q: %w", text, err)
	}
	s.Put(key, v)
	return nil
}
