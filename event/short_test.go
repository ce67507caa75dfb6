package event

import (
	"strings"
	"testing"
)

func TestShort(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"dev-1", "dev-1"},
		{strings.Repeat("a", ShortLen), strings.Repeat("a", ShortLen)},
		{strings.Repeat("a", ShortLen+1), strings.Repeat("a", ShortLen) + "…"},
		{strings.Repeat("é", ShortLen+5), strings.Repeat("é", ShortLen) + "…"},
	} {
		if got := Short(tt.in); got != tt.want {
			t.Errorf("Short(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
