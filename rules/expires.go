package rules

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/detectors"
)

// ExpiresEnv is what a rule's expires_expr can read: the rule's own
// expires and the subject's earlier offences, so that a subject that
// offends again is held longer (CrowdSec's duration_expr, with the
// offence count kept in the detector state).
type ExpiresEnv struct {
	Expires  time.Duration `expr:"expires"`  // the rule's expires
	Offences int           `expr:"offences"` // decisions of the rule's action emitted about the subject before, each within decisions.offence_window of the one before
}

// compileExpires compiles a rule's expires_expr and tries it on the first
// offence counts and on large ones, so that an expression that gives no
// duration of a second or more (an overflow, say) is refused at load
// rather than met on an event.
func compileExpires(src string, base time.Duration) (*vm.Program, error) {
	prog, err := expr.Compile(src, expr.Env(ExpiresEnv{}))
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("expires_expr: %s", fe.Message)
		}
		return nil, fmt.Errorf("expires_expr: %w", err)
	}
	var m vm.VM
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64, 1000} {
		if _, err := runExpires(&m, prog, base, n); err != nil {
			return nil, fmt.Errorf("expires_expr with %d offences: %w (bound it, e.g. min(offences, 6))", n, err)
		}
	}
	return prog, nil
}

// runExpires evaluates an expires_expr. A duration, or a number (what
// expr makes of a duration times a float, in nanoseconds), is the
// lifetime; a string is parsed as a duration ("90m", "2d").
func runExpires(m *vm.VM, prog *vm.Program, base time.Duration, offences int) (time.Duration, error) {
	env := ExpiresEnv{Expires: base, Offences: offences}
	v, err := m.Run(prog, &env)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	switch v := v.(type) {
	case time.Duration:
		d = v
	case int:
		d = time.Duration(v)
	case float64:
		if !(v > 0) { // NaN too
			return 0, fmt.Errorf("gave %v nanoseconds, want a positive duration", v)
		}
		// An escalation past any lifetime holds as long as max_expires.
		d = time.Duration(min(v, math.MaxInt64/2))
	case string:
		if d, err = detectors.ParseDuration(v); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("gave %T %v, want a duration such as expires * 2", v, v)
	}
	if d < time.Second {
		// A bare number is nanoseconds: 60 is not a minute.
		return 0, fmt.Errorf("gave %s, want a duration of a second or more, such as expires * 2 or duration(\"1h\")", d)
	}
	return d, nil
}

// lifetime returns how long a decision of r lasts for a subject with the
// given earlier offences: r.Expires, or what its expires_expr gives,
// capped at limit. An expression that fails on an event falls back to
// r.Expires and the error is returned to be reported.
func (r *Rule) lifetime(m *vm.VM, offences uint32, limit time.Duration) (time.Duration, error) {
	if r.expires == nil {
		return r.Expires, nil
	}
	d, err := runExpires(m, r.expires, r.Expires, int(min(offences, math.MaxInt32)))
	if err != nil {
		return r.Expires, fmt.Errorf("rule %s (%s:%d): expires_expr: %w", r.ID, r.File, r.Line, err)
	}
	return min(d, limit), nil
}
