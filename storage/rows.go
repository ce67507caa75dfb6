package storage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline/record"
)

// featureRow returns the values of a risk_features row, in FeatureColumns
// order, from a feature record of the features topic (see package
// record): the event comes typed, so nothing is decoded twice and no
// reflection runs per row.
func featureRow(b []byte) ([]any, error) {
	var r record.Feature
	if err := record.DecodeFeature(b, &r); err != nil {
		return nil, fmt.Errorf("feature record: %w", err)
	}
	ev := &r.Event
	ip := ""
	if ev.IP.IsValid() {
		ip = ev.IP.String()
	}
	g := &ev.Geo
	in := &ev.App.Integrity
	row := make([]any, 0, len(eventColumns)+len(featureFields)+len(tailColumns))
	row = append(row,
		ev.ID, ev.UserID, ev.Type.String(), ev.TS.UTC(), ev.TS.UnixMilli(), outcome(ev.Outcome), ev.FailureReason,
		ip, ev.DeviceID, ev.SessionID, ev.TokenID, ev.Refresh.TokenID, ev.Refresh.FamilyID, ev.UserAgent,
		ev.App.Platform, ev.App.Version, b2u(in.Rooted), b2u(in.Hooked), b2u(in.Debugger), b2u(in.Emulator), b2u(in.Repackaged), in.Attestation,
		ev.Txn.Amount, ev.Txn.Currency, ev.Txn.BeneficiaryID, ev.Txn.Kind, ev.Change.Field,
		b2u(g.Located), g.Country, g.City, g.Lat, g.Lon, g.RadiusKM, g.ASN, g.ASOrg,
	)
	row = record.AppendFeatureValues(row, &r.Features)
	return append(row, r.Stage, r.RulesVersion, string(r.Raw)), nil
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func outcome(o event.Outcome) string {
	if o == event.OutcomeNone {
		return ""
	}
	return o.String()
}

// Decision is a decision as the decisions topic carries it (contract §2).
type Decision struct {
	DecisionID string `json:"decision_id"`
	EventID    string `json:"event_id"`
	UserID     string `json:"user_id"`
	Subject    struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"subject"`
	Action       string            `json:"action"`
	Score        float64           `json:"score"`
	TS           time.Time         `json:"ts"`
	DecidedAt    time.Time         `json:"decided_at"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Mode         string            `json:"mode"`
	RulesVersion string            `json:"rules_version"`
	Reasons      []json.RawMessage `json:"reasons"`
}

// decisionRow returns the values of a risk_decisions row from a decision's
// JSON.
func decisionRow(b []byte) ([]any, error) {
	var d Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decision: %w", err)
	}
	if d.DecisionID == "" {
		return nil, fmt.Errorf("decision without decision_id")
	}
	ruleIDs := make([]string, len(d.Reasons))
	dets := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		var head struct{ Rule, Detector string }
		_ = json.Unmarshal(r, &head)
		ruleIDs[i], dets[i] = head.Rule, head.Detector
	}
	reasons, _ := json.Marshal(d.Reasons)
	return []any{
		d.DecisionID, d.EventID, d.UserID, d.Subject.Kind, d.Subject.ID, d.Action, d.Score,
		d.TS.UTC(), d.TS.UnixMilli(), d.DecidedAt.UTC(), d.ExpiresAt.UTC(), d.ExpiresAt.UnixMilli(),
		d.Mode, d.RulesVersion, ruleIDs, dets, string(reasons),
	}, nil
}

// StoredEvent is a risk_features row read back: the event with its
// enrichment and the features the rules read; Stage is 1 for the address
// stage's row (which then carries the address features too).
type StoredEvent struct {
	Event    event.Event
	Features detectors.Features
	Stage    uint8
}

// restoreRow rebuilds a StoredEvent from the values of a risk_features row
// scanned into vals (FeatureColumns order).
func restoreRow(vals []any) (StoredEvent, error) {
	var se StoredEvent
	n := len(eventColumns)
	raw := *vals[n+len(featureFields)+2].(*string)
	ev, err := event.Decode([]byte(raw))
	if err != nil {
		return se, fmt.Errorf("stored event %s: %w", *vals[0].(*string), err)
	}
	col := func(name string) any {
		for i, c := range eventColumns {
			if c.name == name {
				return vals[i]
			}
		}
		return nil
	}
	ev.Geo = event.Geo{
		Located: *col("located").(*uint8) == 1, Country: *col("country").(*string), City: *col("city").(*string),
		Lat: *col("lat").(*float64), Lon: *col("lon").(*float64), RadiusKM: *col("radius_km").(*float64),
		ASN: *col("asn").(*uint32), ASOrg: *col("as_org").(*string),
	}
	fv := reflect.ValueOf(&se.Features).Elem()
	for i, ff := range featureFields {
		v := fv.FieldByIndex(ff.index)
		switch p := vals[n+i].(type) {
		case *uint8:
			v.SetBool(*p == 1)
		case *int64:
			v.SetInt(*p)
		case *float64:
			v.SetFloat(*p)
		case *string:
			v.SetString(*p)
		}
	}
	se.Event = ev
	se.Stage = *vals[n+len(featureFields)].(*uint8)
	return se, nil
}

// scanTargets returns pointers of the Go types of risk_features' columns.
func scanTargets() []any {
	var out []any
	add := func(typ string) {
		switch typ {
		case "String":
			out = append(out, new(string))
		case "UInt8":
			out = append(out, new(uint8))
		case "UInt32":
			out = append(out, new(uint32))
		case "Int64":
			out = append(out, new(int64))
		case "Float64":
			out = append(out, new(float64))
		case "DateTime":
			out = append(out, new(time.Time))
		}
	}
	for _, c := range eventColumns {
		add(c.typ)
	}
	for _, f := range featureFields {
		add(f.typ)
	}
	for _, c := range tailColumns {
		add(c.typ)
	}
	return out
}
