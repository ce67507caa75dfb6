package scenario

import "time"

// spare is how far apart in time two failures of one benign user must be
// for a spray or a stuffing run of the shaped traffic to try the user.
const spare = 20 * time.Minute

// targets hands out the benign users the shaped sprays and stuffing runs
// try, round robin, skipping a user with another failure (a typo, or
// another attack's try) within spare of the try. Without it the runs,
// which try hundreds of users between them, now and then pile five
// failures on one user in 15 minutes: riskd would be right to lock the
// user out, but it would blur the count of benign users locked out, which
// is what the look-alikes measure.
type targets struct {
	users []*user
	fails map[string][]time.Time
}

// newTargets queues benign in a random order, with the failures g has
// emitted for them so far.
func (g *gen) newTargets(benign []*user) *targets {
	tg := &targets{fails: map[string][]time.Time{}}
	for _, k := range g.r.Perm(len(benign)) {
		tg.users = append(tg.users, benign[k])
	}
	for _, e := range g.events {
		if e["type"] == "login" && e["outcome"] == "failure" {
			if t, err := time.Parse(time.RFC3339, e["ts"].(string)); err == nil {
				tg.hit(e["user_id"].(string), t)
			}
		}
	}
	return tg
}

// next returns the first queued user with no failure within spare of t,
// and moves it to the back of the queue; nil when there is none.
func (tg *targets) next(t time.Time) *user {
	for i, u := range tg.users {
		if tg.clear(u.id, t) {
			tg.users = append(append(tg.users[:i:i], tg.users[i+1:]...), u)
			return u
		}
	}
	return nil
}

func (tg *targets) clear(user string, t time.Time) bool {
	for _, f := range tg.fails[user] {
		if d := t.Sub(f); d > -spare && d < spare {
			return false
		}
	}
	return true
}

// hit records a failure of user at t.
func (tg *targets) hit(user string, t time.Time) { tg.fails[user] = append(tg.fails[user], t) }
