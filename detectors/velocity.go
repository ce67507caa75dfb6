package detectors

import (
	"fmt"
	"strings"

	"github.com/riskd/riskd/event"
)

const (
	minuteMS = int64(60_000)
	hourMS   = 60 * minuteMS
	dayMS    = 24 * hourMS
)

// velocity counts and sums a user's transactions in sliding windows of
// event time (10 minutes, 1 hour, 1 day), per device and payee, and measures
// the amount against the user's own mean.
func velocity(user *UserState, s *step, f *VelocityFeatures) {
	ev, cfg := s.ev, &s.cfg.Velocity
	txn := ev.Txn
	st := user.extra()
	if s.prune {
		st.Txns = pruneBefore(st.Txns, s.ts-dayMS-s.lateness, cfg.MaxEntries, txnTS)
	}
	st.Txns = insertByTS(st.Txns, TxnEntry{TS: s.ts, Amount: txn.Amount, Currency: txn.Currency, Payee: txn.BeneficiaryID, Device: ev.DeviceID}, txnTS)
	st.Txns = capOldest(st.Txns, cfg.MaxEntries)

	countTxns(st.Txns, s.ts, ev.DeviceID, &txn, f)
	f.Sum1h, f.Sum24h = round2(f.Sum1h), round2(f.Sum24h)

	f.History = int(st.TxnCount)
	if st.TxnCount >= int64(cfg.AmountRatioMinHistory) && st.TxnTotal > 0 {
		f.AmountRatio = round1(txn.Amount / (st.TxnTotal / float64(st.TxnCount)))
	}
	// A payee counts as new only on an account that already had
	// transactions an hour before: a user's first payments are not a burst
	// of new payees.
	established := st.TxnCount > 0 && st.TxnFirst <= s.ts-hourMS
	if txn.BeneficiaryID != "" {
		f.NewBeneficiary = familiar(st.Payees, txn.BeneficiaryID) < 0 && established
		st.Payees = touchFamiliar(st.Payees, txn.BeneficiaryID, s.ts, s.ts-s.cfg.NewDevice.Remember.ms(), established, cfg.MaxBeneficiaries)
	}
	for _, p := range st.Payees {
		if p.Fresh && p.First >= s.ts-dayMS && p.First <= s.ts {
			f.NewBeneficiaries24h++
			if p.First >= s.ts-hourMS {
				f.NewBeneficiaries1h++
			}
		}
	}
	f.DayRatio = dayRatio(st, s.ts, f.Sum24h, txn.Amount, cfg)
	f.DayFired = cfg.DayRatio > 0 && f.DayRatio >= cfg.DayRatio && f.NewBeneficiaries24h >= cfg.NewBeneficiaries24h
	if st.TxnCount == 0 || s.ts < st.TxnFirst {
		st.TxnFirst = s.ts
	}
	st.TxnCount++
	st.TxnTotal += txn.Amount

	var why []string
	add := func(hit bool, format string, args ...any) {
		if hit {
			why = append(why, fmt.Sprintf(format, args...))
		}
	}
	add(f.Count10m >= cfg.Count10m, "%d transactions in 10m (limit %d)", f.Count10m, cfg.Count10m)
	add(f.Count1h >= cfg.Count1h, "%d transactions in 1h (limit %d)", f.Count1h, cfg.Count1h)
	add(f.Count24h >= cfg.Count24h, "%d transactions in 24h (limit %d)", f.Count24h, cfg.Count24h)
	add(cfg.Sum1h > 0 && f.Sum1h >= cfg.Sum1h, "%.2f %s in 1h (limit %.0f)", f.Sum1h, txn.Currency, cfg.Sum1h)
	add(cfg.Sum24h > 0 && f.Sum24h >= cfg.Sum24h, "%.2f %s in 24h (limit %.0f)", f.Sum24h, txn.Currency, cfg.Sum24h)
	add(f.NewBeneficiaries1h >= cfg.NewBeneficiaries1h, "%d new payees in 1h (limit %d)", f.NewBeneficiaries1h, cfg.NewBeneficiaries1h)
	add(f.BeneficiaryCount1h >= cfg.SameBeneficiary1h, "%d transactions to payee %s in 1h (limit %d)", f.BeneficiaryCount1h, txn.BeneficiaryID, cfg.SameBeneficiary1h)
	add(f.DayFired, "%d new payees and %.2f %s in 24h, %.1f× the user's usual day (limits %d and %.0f×)", f.NewBeneficiaries24h, f.Sum24h, txn.Currency, f.DayRatio, cfg.NewBeneficiaries24h, cfg.DayRatio)
	add(cfg.AmountRatio > 0 && f.AmountRatio >= cfg.AmountRatio, "amount %.2f %s is %.1f× the user's mean (limit %.0f×)", txn.Amount, txn.Currency, f.AmountRatio, cfg.AmountRatio)
	if len(why) > 0 {
		f.Fired = true
		f.Summary = "transaction: " + strings.Join(why, "; ")
	}
}

// dayRatio measures the day's total, sum24h (amount, this transaction's,
// included), against the user's usual day: their total before the last
// day over the days their transactions span before it. Called before the
// transaction is added to the totals; 0 without amount_ratio_min_history
// transactions over day_ratio_min_days.
func dayRatio(st *UserExtra, ts int64, sum24h, amount float64, cfg *VelocityConfig) float64 {
	days := float64(ts-st.TxnFirst) / float64(dayMS)
	if st.TxnCount < int64(cfg.AmountRatioMinHistory) || days < float64(cfg.DayRatioMinDays) {
		return 0
	}
	before := st.TxnTotal - (sum24h - amount)
	if before <= 0 {
		return 0
	}
	return round1(sum24h / (before / (days - 1)))
}

// countTxns counts into f the transactions of txns in the windows ending at
// ts (10 minutes, an hour, a day): all of them, the amounts in txn's
// currency, and those from device and to txn's payee in the hour.
func countTxns(txns []TxnEntry, ts int64, device string, txn *event.Txn, f *VelocityFeatures) {
	for i := range txns {
		t := &txns[i]
		if t.TS > ts || t.TS < ts-dayMS {
			continue
		}
		sameCur := t.Currency == txn.Currency
		f.Count24h++
		if sameCur {
			f.Sum24h += t.Amount
		}
		if t.TS < ts-hourMS {
			continue
		}
		f.Count1h++
		if sameCur {
			f.Sum1h += t.Amount
		}
		if device != "" && t.Device == device {
			f.DeviceCount1h++
		}
		if txn.BeneficiaryID != "" && t.Payee == txn.BeneficiaryID {
			f.BeneficiaryCount1h++
		}
		if t.TS >= ts-10*minuteMS {
			f.Count10m++
		}
	}
}
