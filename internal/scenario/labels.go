package scenario

import "encoding/json"

// Attack is one labelled attack: caught when an enforced decision on one
// of its events names Detector (or one of Also) and asks for at least
// Action; when Subject is "ip" or "network" the decision must also be about
// an address or a network, since a lockout of a sprayed user is collateral
// damage, not the spray caught.
type Attack struct {
	ID       string   `json:"id"`
	Class    string   `json:"class"`
	UserID   string   `json:"user_id,omitempty"`
	IP       string   `json:"ip,omitempty"` // an address, or a network in CIDR form when Subject is "network"
	Detector string   `json:"detector"`
	Also     []string `json:"also_detectors,omitempty"` // other detectors whose decision also counts
	Action   string   `json:"action"`
	Subject  string   `json:"subject"` // kind of subject the decision should be about
	Note     string   `json:"note,omitempty"`
	Events   []string `json:"events"`
}

// Labels lists the attacks and the benign users of a traffic file, and the
// benign look-alikes among those users.
type Labels struct {
	Attacks    []Attack    `json:"attacks"`
	Benign     []string    `json:"benign_users"`
	Lookalikes []Lookalike `json:"benign,omitempty"`
}

// Lookalike is a group of benign users whose traffic resembles an attack
// (a carrier's CGNAT address, a company VPN, a forgetful user, a payroll
// run). Expect is "allow" (no enforced step-up or lockout on its users or
// its address) or "step_up_ok" (a step-up is fair, Why says which rule and
// why; a lockout never is).
type Lookalike struct {
	ID      string   `json:"id"`
	Class   string   `json:"class"`
	UserIDs []string `json:"user_ids"`
	IP      string   `json:"ip,omitempty"`  // the shared address or network (CIDR), if any
	ASN     string   `json:"asn,omitempty"` // its network's AS ("AS64760"), if any
	Expect  string   `json:"expect"`
	Why     string   `json:"why,omitempty"`
}

// Expectations of a Lookalike.
const (
	ExpectAllow    = "allow"
	ExpectStepUpOK = "step_up_ok"
)

// MarshalLines writes events as JSON Lines.
func MarshalLines(events []Event) ([]byte, error) {
	var out []byte
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		out = append(append(out, b...), '\n')
	}
	return out, nil
}
