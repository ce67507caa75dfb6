-- Analysts' queries over risk_features and risk_decisions. Each has a name
-- (the "-- name:" line), a description, and parameters written {from} and
-- {to} (DateTime, UTC) and {user} (a user_id), which `storage.Query` binds.
-- They run on ClickHouse 18.16 and on current servers; FINAL folds rows
-- that a redelivery wrote twice and that no merge has folded yet.

-- name: top_risky_users
-- The users with the most step-up and lockout decisions in the period,
-- their highest score and the rules behind them.
SELECT
    user_id,
    countIf(action = 'lockout') AS lockouts,
    countIf(action = 'step_up') AS step_ups,
    max(score) AS max_score,
    groupUniqArrayArray(rules) AS rules
FROM risk_decisions FINAL
WHERE ts >= {from} AND ts < {to} AND mode = 'enforce' AND action != 'allow'
GROUP BY user_id
ORDER BY lockouts DESC, step_ups DESC, max_score DESC, user_id
LIMIT 20;

-- name: rule_hits_per_day
-- How often each rule fired per day, and on how many users.
SELECT
    toDate(ts) AS day,
    rule,
    count() AS hits,
    uniqExact(user_id) AS users
FROM risk_decisions FINAL
ARRAY JOIN rules AS rule
WHERE ts >= {from} AND ts < {to}
GROUP BY day, rule
ORDER BY day, hits DESC, rule;

-- name: decisions_by_action_per_hour
-- Decisions by action and mode over time.
SELECT
    toStartOfHour(ts) AS hour,
    action,
    mode,
    count() AS decisions
FROM risk_decisions FINAL
WHERE ts >= {from} AND ts < {to}
GROUP BY hour, action, mode
ORDER BY hour, action, mode;

-- name: user_timeline
-- One user's events in order, where they came from, and the decisions with
-- their reasons.
SELECT
    f.ts_ms AS ts_ms,
    f.event_id AS event_id,
    f.type AS type,
    f.outcome AS outcome,
    f.ip AS ip,
    f.country AS country,
    f.city AS city,
    f.device_id AS device_id,
    d.action AS action,
    d.rules AS rules,
    d.reasons AS reasons
FROM
(
    SELECT ts_ms, event_id, type, outcome, ip, country, city, device_id
    FROM risk_features FINAL
    WHERE user_id = {user} AND ts >= {from} AND ts < {to}
) AS f
LEFT JOIN
(
    SELECT event_id, action, rules, reasons
    FROM risk_decisions FINAL
    WHERE user_id = {user} AND ts >= {from} AND ts < {to} AND subject_kind = 'user'
) AS d USING (event_id)
ORDER BY ts_ms, event_id;

-- name: signals_per_detector
-- How often each detector fired on the stored events, per day: the base
-- rate an analyst tunes thresholds against.
SELECT
    toDate(ts) AS day,
    sum(impossible_travel_fired) AS impossible_travel,
    sum(token_replay_fired) AS token_replay,
    sum(velocity_fired) AS velocity,
    sum(failed_login_burst_fired) AS failed_login_burst,
    sum(ip_fired) AS password_spray,
    sum(new_device_fired) AS new_device,
    sum(device_integrity_fired) AS device_integrity,
    count() AS events
FROM risk_features FINAL
WHERE ts >= {from} AND ts < {to}
GROUP BY day
ORDER BY day;
