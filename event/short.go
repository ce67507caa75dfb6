package event

import "unicode/utf8"

// ShortLen is how many characters of a client-supplied id a summary quotes.
const ShortLen = 32

// Short returns s as summaries quote it: whole when it has at most ShortLen
// characters, else its first ShortLen characters and "…". Summaries are read
// by people and carried in every decision; an attacker chooses device and
// token ids, so a summary must not grow with them. The evidence keeps the
// (bounded, see Bound) id itself for machines.
func Short(s string) string {
	if utf8.RuneCountInString(s) <= ShortLen {
		return s
	}
	n := 0
	for i := range s {
		if n == ShortLen {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
