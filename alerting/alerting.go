// Package alerting delivers decisions to the services that enforce them.
package alerting

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/riskd/riskd/rules"
)

// JSONLines writes decisions one JSON object per line. It buffers; call
// Flush when done. Not safe for concurrent use.
type JSONLines struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewJSONLines returns a writer of decisions to w.
func NewJSONLines(w io.Writer) *JSONLines {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONLines{w: bw, enc: enc}
}

// Write appends ds.
func (j *JSONLines) Write(ds []rules.Decision) error {
	for i := range ds {
		// MarshalJSON's output is already compact: what Encode would write,
		// without its reflection and re-compacting pass.
		b, err := ds[i].MarshalJSON()
		if err != nil {
			return err
		}
		j.w.Write(b)
		if err := j.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes out what is buffered.
func (j *JSONLines) Flush() error { return j.w.Flush() }
