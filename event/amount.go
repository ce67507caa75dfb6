package event

import (
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// The accepted range of txn.amount, bounds included. MaxAmount is riskd's
// sanity limit (more than any real transfer); MinAmount is below the
// smallest unit of any currency (a wei is 1e-18 ether), and keeps every
// accepted amount far from float64 underflow, where a tiny amount would
// become 0.
const (
	MaxAmount = 1e15
	MinAmount = 1e-18

	maxAmountExp = 15  // MaxAmount = 10^maxAmountExp
	minAmountExp = -18 // MinAmount = 10^minAmountExp
)

// wireAmount is txn.amount as sent: a JSON number, or null or absent
// (set false). Strings are refused: an amount is a number in the contract,
// and the schema says so.
type wireAmount struct {
	value float64
	set   bool
}

// UnmarshalJSONFrom reads the amount and checks its range exactly on the
// decimal text, as the schema's minimum and maximum compare: no rounding
// lets 1e15 plus a little, or a number that underflows to 0, through.
func (a *wireAmount) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	kind := d.PeekKind()
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	switch kind {
	case 'n':
		return nil
	case '0':
	default:
		return reject(ReasonBadAmount, "txn.amount", "must be a JSON number, got %s", kindName(kind))
	}
	exp, pow10, zero := magnitude(v)
	switch {
	case v[0] == '-' || zero:
		return reject(ReasonBadAmount, "txn.amount", "must be a positive amount, got %s", clip(v))
	case exp > maxAmountExp || (exp == maxAmountExp && !pow10):
		return reject(ReasonBadAmount, "txn.amount", "must be at most 1e15, got %s", clip(v))
	case exp < minAmountExp:
		return reject(ReasonBadAmount, "txn.amount", "must be at least 1e-18, got %s", clip(v))
	}
	a.value = parseFloat(v, exp)
	a.set = true
	return nil
}

// maxFloatDigits is the longest number text given to strconv.ParseFloat
// as it is: ParseFloat keeps only 800 digits of a mantissa and, past that,
// misplaces the decimal point of an integer part ("1" and 3000 zeros
// "e-2985" parses as 0, not 1e15).
const maxFloatDigits = 800

// parseFloat returns the value of num, a JSON number in range whose first
// significant digit has decimal exponent exp. A text too long for
// ParseFloat is first rewritten as d.ddd...e<exp> with its significant
// digits, at most 780 of them, the last one standing for any cut tail:
// that decides the rounding to float64 as the whole would.
func parseFloat(num []byte, exp int) float64 {
	if len(num) <= maxFloatDigits {
		f, _ := strconv.ParseFloat(string(num), 64) // in range: no error
		return f
	}
	const keep = 780
	sig := make([]byte, 0, keep+32)
	cut := false
	for _, c := range num {
		if c == 'e' || c == 'E' {
			break
		}
		switch {
		case c < '0' || c > '9' || (c == '0' && len(sig) == 0):
		case len(sig) < keep:
			sig = append(sig, c)
		case c != '0':
			cut = true
		}
	}
	if cut {
		sig = append(sig, '1')
	}
	text := append([]byte{sig[0], '.'}, sig[1:]...)
	text = strconv.AppendInt(append(text, '0', 'e'), int64(exp), 10)
	f, _ := strconv.ParseFloat(string(text), 64)
	return f
}

// maxExp bounds the exponent magnitude read from a number's text. A number
// has fewer than MaxEventBytes digits, so its first digit's exponent is
// within MaxEventBytes of the written exponent: one of maxExp or more puts
// it over 64 decades out of range, whatever the digits.
const maxExp = MaxEventBytes + 64

// magnitude returns, for num, the text of a valid JSON number, the decimal
// exponent of its first non-zero digit (3 for 1234.5, -2 for 0.01), whether
// it is exactly a power of ten, and whether it is zero.
func magnitude(num []byte) (exp int, pow10, zero bool) {
	i := 0
	if num[0] == '-' {
		i++
	}
	first, seen, pow10 := 0, false, true // first: exponent of the first non-zero digit
	place := -1                          // exponent of the digit at i, found below
	for j := i; j < len(num) && num[j] != 'e' && num[j] != 'E' && num[j] != '.'; j++ {
		place++
	}
	for ; i < len(num) && num[i] != 'e' && num[i] != 'E'; i++ {
		c := num[i]
		if c == '.' {
			continue
		}
		switch {
		case c != '0' && !seen:
			first, seen, pow10 = place, true, c == '1'
		case c != '0':
			pow10 = false
		}
		place--
	}
	if !seen {
		return 0, false, true
	}
	e := 0
	if i < len(num) {
		i++
		neg := num[i] == '-'
		if num[i] == '-' || num[i] == '+' {
			i++
		}
		for ; i < len(num) && e < maxExp; i++ {
			e = e*10 + int(num[i]-'0')
		}
		if neg {
			e = -e
		}
	}
	return first + e, pow10, false
}

// kindName names a JSON kind as problems say it.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "invalid value"
}
