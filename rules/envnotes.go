package rules

// fieldNotes gives the meaning of the Env fields whose Go source has no
// doc comment yet (the detectors' and event's packages are owned
// elsewhere), by package.Type.Field; "*.Field" applies to that field of
// every group. TestEnvDocs fails on a note for a field that has a comment
// (the comment wins and the note would drift) or that no longer exists, so
// when a comment is added to the source the note must go.
var fieldNotes = map[string]string{
	"*.Fired":   "the detector's signal, with the thresholds of rules/pack/detectors.yaml",
	"*.Summary": "the evidence in words, as the decision's reason shows it",

	"event.Geo.Located":  "the address was found in the City database; false for missing, private or unknown addresses",
	"event.Geo.Country":  "ISO 3166 country code of the address",
	"event.Geo.City":     "city name of the address, empty when the database has none",
	"event.Geo.Lat":      "latitude of the address, degrees",
	"event.Geo.Lon":      "longitude of the address, degrees",
	"event.Geo.RadiusKM": "accuracy radius of the location, km",
	"event.Geo.ASN":      "autonomous system number of the address's network",
	"event.Geo.ASOrg":    "owner of that autonomous system",

	"detectors.TravelFeatures.ElapsedS":    "seconds between the two events compared",
	"detectors.TravelFeatures.SpeedKMH":    "speed the user would need, km/h",
	"detectors.TravelFeatures.PrevCountry": "country of the event compared with",
	"detectors.TravelFeatures.PrevCity":    "city of the event compared with",

	"detectors.TokenFeatures.AfterLogout": "the token is used after the logout that ended it",
	"detectors.TokenFeatures.FamilyID":    "rotation family of the refresh token presented",
	"detectors.TokenFeatures.BoundDevice": "the device the token was issued to",

	"detectors.VelocityFeatures.Count1h":            "this user's transactions in the last hour, this one included",
	"detectors.VelocityFeatures.Count24h":           "this user's transactions in the last 24 hours, this one included",
	"detectors.VelocityFeatures.Sum24h":             "amount over the last 24 hours, in this event's currency",
	"detectors.VelocityFeatures.NewBeneficiary":     "the beneficiary was never paid before by this user",
	"detectors.VelocityFeatures.NewBeneficiaries1h": "beneficiaries paid for the first time in the last hour",

	"detectors.LoginFeatures.SuccessAfterBurst": "a success that follows a burst of failures (a guessed password?)",

	"detectors.IPFeatures.Failures":     "failed logins and MFA from the address in the spray window",
	"detectors.IPFeatures.FailureRatio": "failures over attempts from the address in the spray window",

	"detectors.NoveltyFeatures.DeviceNew":    "the device is new for this known user (first seen less than new_for ago)",
	"detectors.NoveltyFeatures.CountryNew":   "the country is new for this known user",
	"detectors.NoveltyFeatures.NetworkNew":   "the network (ASN) is new for this known user",
	"detectors.NoveltyFeatures.UserAgeH":     "hours since the user was first seen",
	"detectors.NoveltyFeatures.KnownDevices": "devices familiar for the user",

	"detectors.IntegrityFeatures.Rooted":            "the app reports a rooted or jailbroken device",
	"detectors.IntegrityFeatures.Hooked":            "the app reports hooking (Frida, Xposed)",
	"detectors.IntegrityFeatures.Debugger":          "the app reports an attached debugger",
	"detectors.IntegrityFeatures.Emulator":          "the app reports an emulator",
	"detectors.IntegrityFeatures.Repackaged":        "the app reports a repackaged build",
	"detectors.IntegrityFeatures.AttestationFailed": "platform attestation failed",
}
