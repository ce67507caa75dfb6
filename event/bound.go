package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// MaxIDBytes is the longest client-supplied id or free text (device_id,
// user_agent, ...) that Decode keeps as sent; Bound shortens longer ones.
const MaxIDBytes = 128

// boundPrefixBytes is how much of a long value Bound keeps readable.
const boundPrefixBytes = 96

// boundHashChars is how many hex characters of the value's SHA-256 follow
// the prefix: 64 bits, so distinct long values stay distinct.
const boundHashChars = 16

// Bound returns s unchanged when it is at most MaxIDBytes bytes long, and
// otherwise the longest valid UTF-8 prefix of s of at most 96 bytes, then
// "~", then the first 16 hex characters of the SHA-256 of the whole of s.
// The result is at most 113 bytes, deterministic (a redelivered event
// yields the same value), and distinct long values stay distinct, so the
// detectors still track a device or token whose id is absurdly long.
// Bound(Bound(s)) == Bound(s).
//
// Decode bounds rather than rejects these fields: they come from the
// client (an app, a browser, a header), so an attacker picks them, and if
// a long value were a rejection he could make his own events invisible to
// every detector just by sending a 400 KB device id.
func Bound(s string) string {
	if len(s) <= MaxIDBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	var b [boundPrefixBytes + 1 + boundHashChars]byte
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if (r == utf8.RuneError && size == 1) || n+size > boundPrefixBytes {
			break
		}
		n += size
	}
	copy(b[:], s[:n])
	b[n] = '~'
	hex.Encode(b[n+1:], sum[:boundHashChars/2])
	return string(b[:n+1+boundHashChars])
}

// maxQuotedBytes bounds how much of a rejected value a problem quotes: the
// problem travels in a dead-letter header and a stderr line.
const maxQuotedBytes = 64

// quoted returns s as a Go-quoted string (so control characters cannot
// break a log line), cut to maxQuotedBytes on a rune boundary with "..."
// when longer.
func quoted(s string) string {
	if len(s) <= maxQuotedBytes {
		return strconv.Quote(s)
	}
	n := maxQuotedBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "..."
}

// clip returns s, a JSON number's text (ASCII), cut to maxQuotedBytes with
// "..." when longer.
func clip(s []byte) string {
	if len(s) <= maxQuotedBytes {
		return string(s)
	}
	return string(s[:maxQuotedBytes]) + "..."
}
