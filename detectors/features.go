package detectors

// Detector ids as they appear in decisions (contract §2).
const (
	ImpossibleTravel = "impossible_travel"
	TokenReplay      = "token_replay"
	Velocity         = "velocity"
	FailedLoginBurst = "failed_login_burst"
	NewDevice        = "new_device"
	DeviceIntegrity  = "device_integrity"
)

// IDs lists the detector ids.
func IDs() []string {
	return []string{ImpossibleTravel, TokenReplay, Velocity, FailedLoginBurst, NewDevice, DeviceIntegrity}
}

// Features is everything the detectors computed for one event: the rules'
// inputs besides the event and its enrichment. Each group has Fired (the
// detector's signal) and Summary (its evidence in words); the other fields
// are the evidence itself, and their json names are the feature names
// stored for backtests. The expr names are what rules write.
type Features struct {
	Travel    TravelFeatures    `expr:"impossible_travel" json:"impossible_travel"`
	Token     TokenFeatures     `expr:"token_replay" json:"token_replay"`
	Velocity  VelocityFeatures  `expr:"velocity" json:"velocity"`
	Logins    LoginFeatures     `expr:"failed_login_burst" json:"failed_login_burst"`
	Novelty   NoveltyFeatures   `expr:"new_device" json:"new_device"`
	Integrity IntegrityFeatures `expr:"device_integrity" json:"device_integrity"`
	IP        IPFeatures        `expr:"ip" json:"ip"`
	Network   NetworkFeatures   `expr:"network" json:"network"`
	Stream    StreamFeatures    `expr:"stream" json:"stream"`
}

// StreamFeatures says how the event sits in event time.
type StreamFeatures struct {
	Duplicate bool `expr:"duplicate" json:"duplicate"` // event_id already seen for this user: state was not updated again
	Late      bool `expr:"late" json:"late"`           // older than the user's newest event by more than the allowed lateness
	Future    bool `expr:"future" json:"future"`       // further ahead of stream time than max_future
}

// TravelFeatures is impossible_travel's output.
type TravelFeatures struct {
	Fired       bool    `expr:"fired" json:"-"`
	Summary     string  `expr:"summary" json:"-"`
	Compared    bool    `expr:"compared" json:"compared"`       // a geolocated neighbour in time was found
	DistanceKM  float64 `expr:"distance_km" json:"distance_km"` // great-circle distance minus both accuracy radii
	ElapsedS    float64 `expr:"elapsed_s" json:"elapsed_s"`
	SpeedKMH    float64 `expr:"speed_kmh" json:"speed_kmh"`
	PrevCountry string  `expr:"prev_country" json:"prev_country"`
	PrevCity    string  `expr:"prev_city" json:"prev_city"`
}

// TokenFeatures is token_replay's output.
type TokenFeatures struct {
	Fired          bool    `expr:"fired" json:"-"`
	Summary        string  `expr:"summary" json:"-"`
	Known          bool    `expr:"known" json:"known"`                     // the token (or refresh family) was seen before
	DeviceMismatch bool    `expr:"device_mismatch" json:"device_mismatch"` // used from a device other than the bound one
	DeviceMissing  bool    `expr:"device_missing" json:"device_missing"`   // bound to a device, used without one
	NetworkChanged bool    `expr:"network_changed" json:"network_changed"` // ASN differs from the one at issue
	AfterLogout    bool    `expr:"after_logout" json:"after_logout"`
	Concurrent     bool    `expr:"concurrent" json:"concurrent"`         // used from places it cannot be at once
	SpeedKMH       float64 `expr:"speed_kmh" json:"speed_kmh"`           // between its last use and this one
	RefreshReuse   bool    `expr:"refresh_reuse" json:"refresh_reuse"`   // this refresh token was presented before
	FamilyRevoked  bool    `expr:"family_revoked" json:"family_revoked"` // its family was flagged by an earlier reuse
	FamilyID       string  `expr:"family_id" json:"family_id"`
	BoundDevice    string  `expr:"bound_device" json:"bound_device"`
	AgeS           float64 `expr:"age_s" json:"age_s"` // since issue (or first sight)
}

// VelocityFeatures is velocity's output, for transaction events.
type VelocityFeatures struct {
	Fired               bool    `expr:"fired" json:"-"`
	Summary             string  `expr:"summary" json:"-"`
	Count10m            int     `expr:"count_10m" json:"count_10m"` // this user's transactions, this one included
	Count1h             int     `expr:"count_1h" json:"count_1h"`
	Count24h            int     `expr:"count_24h" json:"count_24h"`
	Sum1h               float64 `expr:"sum_1h" json:"sum_1h"` // in this event's currency
	Sum24h              float64 `expr:"sum_24h" json:"sum_24h"`
	DeviceCount1h       int     `expr:"device_count_1h" json:"device_count_1h"`           // from this device
	BeneficiaryCount1h  int     `expr:"beneficiary_count_1h" json:"beneficiary_count_1h"` // to this beneficiary
	NewBeneficiary      bool    `expr:"new_beneficiary" json:"new_beneficiary"`
	NewBeneficiaries1h  int     `expr:"new_beneficiaries_1h" json:"new_beneficiaries_1h"`
	AmountRatio         float64 `expr:"amount_ratio" json:"amount_ratio"`                   // amount over the user's mean, 0 without enough history
	History             int     `expr:"history" json:"history"`                             // the user's earlier transactions
	NewBeneficiaries24h int     `expr:"new_beneficiaries_24h" json:"new_beneficiaries_24h"` // payees first paid in the last 24h, on an established account
	DayRatio            float64 `expr:"day_ratio" json:"day_ratio"`                         // the 24h sum over the user's usual day (their total over the days of their history), 0 without enough history
	DayFired            bool    `expr:"day_fired" json:"day_fired"`                         // new_beneficiaries_24h and day_ratio both reached their limits: a day unlike the user's own
}

// LoginFeatures is failed_login_burst's per-user output.
type LoginFeatures struct {
	Fired             bool   `expr:"fired" json:"-"`
	Summary           string `expr:"summary" json:"-"`
	Failures          int    `expr:"failures" json:"failures"`         // failed logins and MFA in the window, this one included
	DistinctIPs       int    `expr:"distinct_ips" json:"distinct_ips"` // addresses those failures came from
	SuccessAfterBurst bool   `expr:"success_after_burst" json:"success_after_burst"`
	FailuresLong      int    `expr:"failures_long" json:"failures_long"` // failed logins and MFA in long_window, this one included
	LongFired         bool   `expr:"long_fired" json:"long_fired"`       // a failure with failures_long at user_long or more: a patient brute force
}

// IPFeatures is failed_login_burst's per-address output (password spray).
// It is computed on the ip stage, so only rules whose subject is ip read it.
type IPFeatures struct {
	Fired            bool    `expr:"fired" json:"-"`
	Summary          string  `expr:"summary" json:"-"`
	Attempts         int     `expr:"attempts" json:"attempts"` // logins and MFA from the address in the spray window
	Failures         int     `expr:"failures" json:"failures"`
	Users            int     `expr:"users" json:"users"`               // distinct users attempted
	FailedUsers      int     `expr:"failed_users" json:"failed_users"` // distinct users with a failure
	FailureRatio     float64 `expr:"failure_ratio" json:"failure_ratio"`
	FailedUsersLong  int     `expr:"failed_users_long" json:"failed_users_long"`   // distinct users with a failure in spray_long_window
	FailureRatioLong float64 `expr:"failure_ratio_long" json:"failure_ratio_long"` // share of the attempts in spray_long_window that failed
	LongFired        bool    `expr:"long_fired" json:"long_fired"`                 // failed_users_long and failure_ratio_long reached their limits: a patient spray or stuffing
	Stuffing         bool    `expr:"stuffing" json:"stuffing"`                     // a success from an address whose long window holds stuffing_users failing users at stuffing_failure_ratio
}

// NetworkFeatures is failed_login_burst's per-network output: the IPv4 /24
// or IPv6 /48 of the address, over network_window (distributed spray). It
// is computed on the ip stage, as IPFeatures are.
type NetworkFeatures struct {
	Fired           bool    `expr:"fired" json:"-"`
	Summary         string  `expr:"summary" json:"-"`
	Prefix          string  `expr:"prefix" json:"prefix"`                     // the network, in CIDR form
	Attempts        int     `expr:"attempts" json:"attempts"`                 // logins and MFA from the network in the window
	Failures        int     `expr:"failures" json:"failures"`                 // failed ones among them
	FailedUsers     int     `expr:"failed_users" json:"failed_users"`         // distinct users with a failure
	SuccessUsers    int     `expr:"success_users" json:"success_users"`       // distinct users who logged in: many means shared egress
	FailedAddresses int     `expr:"failed_addresses" json:"failed_addresses"` // distinct addresses of the network with a failure
	FailureRatio    float64 `expr:"failure_ratio" json:"failure_ratio"`       // failures over attempts
	Allowlisted     bool    `expr:"allowlisted" json:"allowlisted"`           // in shared_egress (by prefix or AS number): never fires
	Stuffing        bool    `expr:"stuffing" json:"stuffing"`                 // a success from a network with stuffing_users failing users at stuffing_failure_ratio
}

// NoveltyFeatures is new_device's output.
type NoveltyFeatures struct {
	Fired        bool    `expr:"fired" json:"-"`
	Summary      string  `expr:"summary" json:"-"`
	KnownUser    bool    `expr:"known_user" json:"known_user"` // the user has history older than known_after
	DeviceNew    bool    `expr:"device_new" json:"device_new"`
	CountryNew   bool    `expr:"country_new" json:"country_new"`
	NetworkNew   bool    `expr:"network_new" json:"network_new"`
	DeviceAgeH   float64 `expr:"device_age_h" json:"device_age_h"` // since first sight of this device for the user
	UserAgeH     float64 `expr:"user_age_h" json:"user_age_h"`
	KnownDevices int     `expr:"known_devices" json:"known_devices"`
}

// IntegrityFeatures is device_integrity's output.
type IntegrityFeatures struct {
	Fired             bool   `expr:"fired" json:"-"`
	Summary           string `expr:"summary" json:"-"`
	Rooted            bool   `expr:"rooted" json:"rooted"`
	Hooked            bool   `expr:"hooked" json:"hooked"`
	Debugger          bool   `expr:"debugger" json:"debugger"`
	Emulator          bool   `expr:"emulator" json:"emulator"`
	Repackaged        bool   `expr:"repackaged" json:"repackaged"`
	AttestationFailed bool   `expr:"attestation_failed" json:"attestation_failed"`
	Severe            bool   `expr:"severe" json:"severe"` // hooked, repackaged, debugger or failed attestation: active tampering
}

// Evidence returns the feature group of detector id and its summary, for a
// decision's reasons, as a copy; ok is false for an unknown id. On the ip stage
// failed_login_burst's evidence is the address's, not the user's.
func (f *Features) Evidence(id string, ipStage bool) (evidence any, summary string, ok bool) {
	switch id {
	case ImpossibleTravel:
		return f.Travel, f.Travel.Summary, true
	case TokenReplay:
		return f.Token, f.Token.Summary, true
	case Velocity:
		return f.Velocity, f.Velocity.Summary, true
	case FailedLoginBurst:
		if ipStage {
			return f.IP, f.IP.Summary, true
		}
		return f.Logins, f.Logins.Summary, true
	case NewDevice:
		return f.Novelty, f.Novelty.Summary, true
	case DeviceIntegrity:
		return f.Integrity, f.Integrity.Summary, true
	}
	return nil, "", false
}

// signal returns the Fired flag and Summary of detector id's group; ipStage
// picks the address group for failed_login_burst as Evidence does.
func (f *Features) signal(id string, ipStage bool) (fired *bool, summary *string) {
	switch id {
	case ImpossibleTravel:
		return &f.Travel.Fired, &f.Travel.Summary
	case TokenReplay:
		return &f.Token.Fired, &f.Token.Summary
	case Velocity:
		return &f.Velocity.Fired, &f.Velocity.Summary
	case FailedLoginBurst:
		if ipStage {
			return &f.IP.Fired, &f.IP.Summary
		}
		return &f.Logins.Fired, &f.Logins.Summary
	case NewDevice:
		return &f.Novelty.Fired, &f.Novelty.Summary
	case DeviceIntegrity:
		return &f.Integrity.Fired, &f.Integrity.Summary
	}
	return nil, nil
}

// Signals returns the user-stage detectors that fired, with their summaries,
// keyed by detector id. It carries what the json encoding of Features leaves
// out, so Features and Signals together round-trip through bytes.
func (f *Features) Signals() map[string]string {
	var m map[string]string
	for _, id := range IDs() {
		if fired, summary := f.signal(id, false); *fired {
			if m == nil {
				m = make(map[string]string, 2)
			}
			m[id] = *summary
		}
	}
	return m
}

// SetSignals marks the detectors in signals (as returned by Signals) as fired.
// Unknown ids are ignored.
func (f *Features) SetSignals(signals map[string]string) {
	for id, s := range signals {
		if fired, summary := f.signal(id, false); fired != nil {
			*fired, *summary = true, s
		}
	}
}

// Fired reports whether detector id fired; ipStage asks about the address
// stage's failed_login_burst.
func (f *Features) Fired(id string, ipStage bool) bool {
	fired, _ := f.signal(id, ipStage)
	return fired != nil && *fired
}
