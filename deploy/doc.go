// Package deploy holds no code: it is the home of riskd's deployment files
// (deploy/grafana/riskd.json, the Grafana dashboard, and
// deploy/prometheus/riskd-alerts.yml, the alert rules with their promtool
// unit tests) and of the tests that check them against the metrics riskd
// exports, so that a renamed metric breaks `make test`, not a dashboard in
// production.
package deploy
