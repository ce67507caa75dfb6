package event

import (
	"time"
)

// Years outside MinYear..MaxYear, as written in ts, are rejected: a year
// 0000 or 9999 is a forged or broken clock, not an event.
const (
	MinYear = 1970
	MaxYear = 9999
)

// parseTS parses ts as the schema's pattern and format date-time accept it:
// RFC 3339 with an uppercase T and Z, seconds 00-59 (no leap second), a
// fraction of 1 to 9 digits, an offset within ±23:59, a real calendar day
// and a year from MinYear to MaxYear. The result is UTC.
func parseTS(s string) (time.Time, *Error) {
	bad := func(format string, args ...any) (time.Time, *Error) {
		return time.Time{}, reject(ReasonBadTS, "ts", format, args...)
	}
	lead := 0
	for lead < len(s) && s[lead] >= '0' && s[lead] <= '9' {
		lead++
	}
	if lead > 4 && lead < len(s) && s[lead] == '-' {
		return bad("year %s outside %d..%d", clip([]byte(s[:lead])), MinYear, MaxYear)
	}
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return bad("not an RFC 3339 timestamp: %s", quoted(s))
	}
	if s[10] == 't' || s[len(s)-1] == 'z' {
		return bad("T and Z must be upper case: %s", quoted(s))
	}
	year, month, day := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	hour, minute, sec := digits(s[11:13]), digits(s[14:16]), digits(s[17:19])
	if s[10] != 'T' || year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || sec < 0 {
		return bad("not an RFC 3339 timestamp: %s", quoted(s))
	}
	if year < MinYear || year > MaxYear {
		return bad("year %s outside %d..%d", s[0:4], MinYear, MaxYear)
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return bad("no such day: %s", quoted(s[:10]))
	}
	if hour > 23 || minute > 59 || sec > 59 {
		return bad("no such time of day (a leap second :60 is not accepted): %s", quoted(s[11:19]))
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return bad("fraction of a second must have 1 to 9 digits: %s", quoted(s))
		}
		nsec = digits(rest[1:n])
		for range 10 - n {
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset, ok := parseOffset(rest)
	if !ok {
		return bad("offset must be Z or ±HH:MM within ±23:59: %s", quoted(s))
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), nil
}

// parseOffset returns the offset east of UTC in seconds of "Z" or "±HH:MM".
func parseOffset(s string) (int, bool) {
	if s == "Z" {
		return 0, true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	h, m := digits(s[1:3]), digits(s[4:6])
	if h < 0 || m < 0 || h > 23 || m > 59 {
		return 0, false
	}
	if s[0] == '-' {
		return -(h*3600 + m*60), true
	}
	return h*3600 + m*60, true
}

// digits returns the value of s, a short run of ASCII digits, or -1 when s
// is empty or holds anything else.
func digits(s string) int {
	if s == "" {
		return -1
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
