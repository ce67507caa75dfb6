// Package deploy holds no code: it is the home of riskd's deployment files
// (deploy/grafana/riskd.json, the Grafana dashboard;
// deploy/prometheus/riskd-alerts.yml, the alert rules with their promtool
// unit tests; deploy/Dockerfile, deploy/compose.yaml and its Prometheus and
// Grafana files, the image and a local stack; deploy/riskd.yaml, a sample
// config) and of the tests that check them against the metrics and flags
// riskd has, so that a renamed metric or a new flag breaks `make test`, not
// a dashboard or a deployment in production.
package deploy
