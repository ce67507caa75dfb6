package record

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// randomFeatures fills every field of a Features with a value drawn from
// rng, so a field the codec forgets shows as a difference.
func randomFeatures(rng *rand.Rand) detectors.Features {
	var f detectors.Features
	v := reflect.ValueOf(&f).Elem()
	for i := 0; i < v.NumField(); i++ {
		g := v.Field(i)
		for j := 0; j < g.NumField(); j++ {
			switch x := g.Field(j); x.Kind() {
			case reflect.Bool:
				x.SetBool(rng.IntN(2) == 1)
			case reflect.Int:
				x.SetInt(rng.Int64N(1<<40) - 1<<39)
			case reflect.Float64:
				x.SetFloat(rng.NormFloat64() * 1e6)
			case reflect.String:
				x.SetString(string(rune('a'+rng.IntN(26))) + "é summary")
			}
		}
	}
	return f
}

func testEvent(rng *rand.Rand) event.Event {
	return event.Event{
		ID: "e-1", Type: event.Login, TS: time.Date(2026, 3, 1, 12, 0, 0, rng.IntN(1e9), time.UTC), UserID: "ü-42",
		Outcome: event.Failure, FailureReason: "bad_password", IP: netip.MustParseAddr("2001:db8::1"),
		DeviceID: "d", SessionID: "s", TokenID: "t", Refresh: event.Refresh{TokenID: "r", FamilyID: "f"},
		UserAgent: "ua", App: event.App{Platform: "android", Version: "1.2", Integrity: event.Integrity{Hooked: true, Repackaged: true, Attestation: "fail"}},
		Txn:    event.Txn{Amount: 12.5, Currency: "EUR", BeneficiaryID: "b", Kind: "p2p"},
		Change: event.Change{Field: "email"},
		Geo:    event.Geo{Located: true, Country: "DE", City: "Berlin", Lat: 52.5, Lon: 13.4, RadiusKM: 20, ASN: 3320, ASOrg: "DTAG"},
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		obs := Observation{Source: i % 7, Sources: 7, Watermark: rng.Int64() - math.MaxInt64/2, Caught: i%2 == 0,
			Event: testEvent(rng), Raw: []byte(`{"raw":true}`), Features: randomFeatures(rng)}
		if i%3 == 0 {
			obs.Event.IP = netip.MustParseAddr("81.2.69.160")
		}
		var got Observation
		if err := DecodeObservation(AppendObservation(nil, &obs), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, obs) {
			t.Fatalf("observation round trip:\n got %+v\nwant %+v", got, obs)
		}
		feat := Feature{Stage: StageIP, RulesVersion: "v1", Event: obs.Event, Raw: obs.Raw, Features: obs.Features}
		var gotF Feature
		if err := DecodeFeature(AppendFeature(nil, &feat), &gotF); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotF, feat) {
			t.Fatalf("feature round trip:\n got %+v\nwant %+v", gotF, feat)
		}
	}
	hb := Observation{Source: 1, Sources: 4, Watermark: math.MinInt64, Heartbeat: true}
	var got Observation
	if err := DecodeObservation(AppendObservation(nil, &hb), &got); err != nil || !reflect.DeepEqual(got, hb) {
		t.Fatalf("heartbeat: %v %+v", err, got)
	}
}

// TestRefused checks that every cut of a record, another version, another
// kind and values event.Decode cannot produce are errors, not records.
func TestRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	obs := Observation{Sources: 1, Event: testEvent(rng), Raw: []byte("{}"), Features: randomFeatures(rng)}
	b := AppendObservation(nil, &obs)
	var o Observation
	for n := range len(b) {
		if DecodeObservation(b[:n], &o) == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if err := DecodeObservation(append(b[:len(b):len(b)], 0), &o); err == nil {
		t.Error("trailing byte accepted")
	}
	for _, v := range []byte{1, Version + 1} { // before the network features, and a newer one
		other := append([]byte{v}, b[1:]...)
		if err := DecodeObservation(other, &o); !errors.Is(err, ErrVersion) {
			t.Errorf("version %d: %v, want ErrVersion", v, err)
		}
	}
	if err := DecodeFeature(b, new(Feature)); err == nil || errors.Is(err, ErrVersion) {
		t.Errorf("an observation read as a feature record: %v", err)
	}
	bad := []struct {
		name string
		edit func(*event.Event)
	}{
		{"unknown type", func(e *event.Event) { e.Type = 99 }},
		{"outcome", func(e *event.Event) { e.Outcome = 7 }},
		{"year 10001", func(e *event.Event) { e.TS = time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year 1900", func(e *event.Event) { e.TS = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"empty id", func(e *event.Event) { e.ID = "" }},
		{"long user", func(e *event.Event) { e.UserID = string(make([]byte, 300)) }},
		{"unbounded device", func(e *event.Event) { e.DeviceID = string(make([]byte, 129)) }},
		{"NaN amount", func(e *event.Event) { e.Txn.Amount = math.NaN() }},
		{"invalid UTF-8 id", func(e *event.Event) { e.ID = "\xff" }},
	}
	for _, tt := range bad {
		ev := testEvent(rng)
		tt.edit(&ev)
		o := Observation{Sources: 1, Event: ev}
		if err := DecodeObservation(AppendObservation(nil, &o), new(Observation)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// FuzzDecode checks that no input makes the decoders panic, and that what
// they accept encodes to a record that decodes to the same (compared as
// bytes: a NaN feature is not equal to itself).
func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	obs := Observation{Sources: 2, Source: 1, Event: testEvent(rng), Raw: []byte("{}"), Features: randomFeatures(rng)}
	f.Add(AppendObservation(nil, &obs))
	f.Add(AppendObservation(nil, &Observation{Sources: 3, Heartbeat: true, Watermark: math.MinInt64}))
	f.Add(AppendFeature(nil, &Feature{Event: obs.Event, Features: obs.Features}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o, o2 Observation
		if DecodeObservation(b, &o) == nil {
			enc := AppendObservation(nil, &o)
			if err := DecodeObservation(enc, &o2); err != nil || !bytes.Equal(AppendObservation(nil, &o2), enc) {
				t.Fatalf("observation re-encoded: %v\n%+v\n%+v", err, o, o2)
			}
		}
		var r, r2 Feature
		if DecodeFeature(b, &r) == nil {
			enc := AppendFeature(nil, &r)
			if err := DecodeFeature(enc, &r2); err != nil || !bytes.Equal(AppendFeature(nil, &r2), enc) {
				t.Fatalf("feature record re-encoded: %v", err)
			}
		}
	})
}
