package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBound(t *testing.T) {
	long := strings.Repeat("d", 400)
	euro := strings.Repeat("€", 50) // 150 bytes; 32 whole characters fit in 96 bytes
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "dev-1", "dev-1"},
		{"exactly MaxIDBytes", strings.Repeat("x", MaxIDBytes), strings.Repeat("x", MaxIDBytes)},
		{"one past", strings.Repeat("x", MaxIDBytes+1), strings.Repeat("x", 96) + "~" + sha16(strings.Repeat("x", MaxIDBytes+1))},
		{"long", long, strings.Repeat("d", 96) + "~" + sha16(long)},
		{"cut on a character boundary", euro, strings.Repeat("€", 32) + "~" + sha16(euro)},
		{"invalid UTF-8 ends the prefix", "ab\xff" + long, "ab~" + sha16("ab\xff"+long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Bound(tt.in)
			if got != tt.want {
				t.Errorf("Bound = %q, want %q", got, tt.want)
			}
			if len(got) > MaxIDBytes || !utf8.ValidString(got) {
				t.Errorf("Bound = %q: %d bytes, valid UTF-8 %v", got, len(got), utf8.ValidString(got))
			}
			if Bound(got) != got {
				t.Errorf("Bound(Bound(s)) = %q, want %q", Bound(got), got)
			}
		})
	}
	if Bound(long+"a") == Bound(long+"b") {
		t.Error("two long values that differ only at the end are bounded to one")
	}
}

// sha16 is the first 16 hex characters of the SHA-256 of s.
func sha16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}
