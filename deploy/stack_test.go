package deploy

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	composeFile    = "compose.yaml"
	dockerfile     = "Dockerfile"
	prometheusFile = "prometheus/prometheus.yml"
	datasourceFile = "grafana/provisioning/datasources/prometheus.yaml"
	providerFile   = "grafana/provisioning/dashboards/riskd.yaml"
)

// service is the part of a compose service the tests look at. The riskd
// members' settings come from a YAML anchor and merge key, which yaml.v3
// resolves as compose does.
type service struct {
	Image   string
	Build   struct{ Context, Dockerfile string }
	Command []string
	Volumes []string
	Ports   []string
	Env     map[string]any `yaml:"environment"`
}

func readCompose(t *testing.T) map[string]service {
	t.Helper()
	var c struct{ Services map[string]service }
	if err := yaml.Unmarshal([]byte(readFile(t, composeFile)), &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return c.Services
}

// mounts returns a service's bind mounts, container path to host path
// (relative to deploy/, as compose resolves them from the file's folder).
func (s service) mounts() map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], ".") {
			m[parts[1]] = parts[0]
		}
	}
	return m
}

// flag returns the value of --name=VALUE in the service's command, and
// whether it is there (a bare --name counts, with an empty value).
func (s service) flag(name string) (string, bool) {
	for _, a := range s.Command {
		if a == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestCompose checks that the local stack names what issue 14 asks for and
// that every file it mounts or builds from is in the repository. It does
// not start anything: no docker daemon is assumed.
func TestCompose(t *testing.T) {
	svcs := readCompose(t)
	for _, tc := range []struct{ name, image string }{
		{"kafka", "apache/kafka:"},
		{"clickhouse", "clickhouse/clickhouse-server:"},
		{"riskd-1", "riskd:"},
		{"riskd-2", "riskd:"},
		{"prometheus", "prom/prometheus:"},
		{"grafana", "grafana/grafana:"},
	} {
		s, ok := svcs[tc.name]
		if !ok {
			t.Errorf("%s: no service %s; the local stack needs it", composeFile, tc.name)
			continue
		}
		if !strings.HasPrefix(s.Image, tc.image) {
			t.Errorf("%s: service %s has image %q, want %s<tag>", composeFile, tc.name, s.Image, tc.image)
		}
		for target, host := range s.mounts() {
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s: service %s mounts %s at %s, which is not in the repository: %v", composeFile, tc.name, host, target, err)
			}
		}
	}

	if roles := svcs["kafka"].Env["KAFKA_PROCESS_ROLES"]; roles != "broker,controller" {
		t.Errorf("%s: kafka has KAFKA_PROCESS_ROLES %v, want broker,controller (one node in KRaft mode)", composeFile, roles)
	}

	var groups []string
	for _, name := range []string{"riskd-1", "riskd-2"} {
		s := svcs[name]
		if s.Build.Context != ".." || s.Build.Dockerfile != "deploy/"+dockerfile {
			t.Errorf("%s: %s builds %s in %s; want deploy/%s with the repository root as context", composeFile, name, s.Build.Dockerfile, s.Build.Context, dockerfile)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
			t.Errorf("%s: %s's build context %s is not the repository root (no go.mod): %v", composeFile, name, s.Build.Context, err)
		}
		if len(s.Command) == 0 || s.Command[0] != "run" {
			t.Errorf("%s: %s's command is %v; want riskd run", composeFile, name, s.Command)
		}
		g, _ := s.flag("group")
		groups = append(groups, g)
		for _, f := range []string{"create-topics", "clickhouse", "brokers"} {
			if _, ok := s.flag(f); !ok {
				t.Errorf("%s: %s is not started with --%s", composeFile, name, f)
			}
		}
		if addr, _ := s.flag("metrics-addr"); !strings.HasPrefix(addr, "0.0.0.0:") {
			t.Errorf("%s: %s has --metrics-addr %q; want 0.0.0.0:PORT so that Prometheus reaches it on the compose network", composeFile, name, addr)
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s: %s publishes %v; the members' metrics stay on the compose network", composeFile, name, s.Ports)
		}
		// Files named in the command must be mounted into the container.
		m := s.mounts()
		for _, f := range []string{"config", "geoip-city", "geoip-asn"} {
			if p, ok := s.flag(f); ok && m[p] == "" {
				t.Errorf("%s: %s has --%s=%s but mounts nothing there", composeFile, name, f, p)
			}
		}
		if m["/etc/riskd/riskd.yaml"] != "./"+sampleConfig {
			t.Errorf("%s: %s does not mount ./%s; the members should show the sample config in use", composeFile, name, sampleConfig)
		}
	}
	if groups[0] == "" || groups[0] != groups[1] {
		t.Errorf("%s: the members' --group are %q; want one group for both", composeFile, groups)
	}

	prom := svcs["prometheus"].mounts()
	for _, f := range []string{prometheusFile, alertsFile} {
		if !slices.Contains(mapValues(prom), "./"+f) {
			t.Errorf("%s: prometheus does not mount ./%s", composeFile, f)
		}
	}
	graf := svcs["grafana"].mounts()
	if !slices.Contains(mapValues(graf), "./grafana/provisioning") || !slices.Contains(mapValues(graf), "./"+dashboardFile) {
		t.Errorf("%s: grafana mounts %v; want ./grafana/provisioning and ./%s", composeFile, graf, dashboardFile)
	}
}

func mapValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

// TestPrometheusAndGrafanaConfig checks that the files compose mounts fit
// together: Prometheus loads the alert rules where compose puts them and
// scrapes both members on their metrics port, and Grafana reads the
// dashboard from where compose mounts it and queries that Prometheus.
func TestPrometheusAndGrafanaConfig(t *testing.T) {
	svcs := readCompose(t)
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, prometheusFile)), &prom); err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	mounted := svcs["prometheus"].mounts()
	for _, rf := range prom.RuleFiles {
		if mounted[rf] != "./"+alertsFile {
			t.Errorf("%s: rule file %s is not where compose mounts ./%s", prometheusFile, rf, alertsFile)
		}
	}
	if len(prom.RuleFiles) == 0 {
		t.Errorf("%s: no rule_files; load %s", prometheusFile, alertsFile)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for _, name := range []string{"riskd-1", "riskd-2"} {
		addr, _ := svcs[name].flag("metrics-addr")
		_, port, _ := strings.Cut(addr, ":")
		if want := name + ":" + port; !slices.Contains(targets, want) {
			t.Errorf("%s: no scrape target %s (targets %v)", prometheusFile, want, targets)
		}
	}

	var ds struct {
		Datasources []struct{ Type, URL string }
	}
	if err := yaml.Unmarshal([]byte(readFile(t, datasourceFile)), &ds); err != nil {
		t.Fatalf("%s: %v", datasourceFile, err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !strings.HasPrefix(ds.Datasources[0].URL, "http://prometheus:") {
		t.Errorf("%s: want one prometheus data source at http://prometheus:PORT, got %+v", datasourceFile, ds.Datasources)
	}

	var prov struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	if err := yaml.Unmarshal([]byte(readFile(t, providerFile)), &prov); err != nil {
		t.Fatalf("%s: %v", providerFile, err)
	}
	var dashDir string
	for target, host := range svcs["grafana"].mounts() {
		if host == "./"+dashboardFile {
			dashDir = path.Dir(target)
		}
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Options.Path != dashDir {
		t.Errorf("%s: want one provider reading %s, where compose mounts the dashboard; got %+v", providerFile, dashDir, prov.Providers)
	}
}

var fromLine = regexp.MustCompile(`(?im)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$`)

// TestDockerfile checks the Dockerfile's shape without building it: a
// named builder stage that builds a static binary, and a final stage that
// copies it from there and runs as a non-root user.
func TestDockerfile(t *testing.T) {
	df := readFile(t, dockerfile)
	froms := fromLine.FindAllStringSubmatchIndex(df, -1)
	if len(froms) < 2 {
		t.Fatalf("%s: %d FROM lines; want a builder stage and a runtime stage", dockerfile, len(froms))
	}
	if froms[0][4] < 0 || !strings.HasPrefix(df[froms[0][2]:froms[0][3]], "golang:") {
		t.Fatalf("%s: the first stage is not a named golang stage (FROM golang:1.x AS build)", dockerfile)
	}
	builderName := df[froms[0][4]:froms[0][5]]
	builder := df[froms[0][0]:froms[1][0]]
	final := df[froms[len(froms)-1][0]:]

	for _, tc := range []struct {
		stage, name, text string
		want              *regexp.Regexp
		why               string
	}{
		{"builder", "static build", builder, regexp.MustCompile(`(?m)^RUN\s.*CGO_ENABLED=0\s.*go build\b.*\./cmd/riskd`), "RUN CGO_ENABLED=0 go build ... ./cmd/riskd, so that the binary needs no C library"},
		{"final", "binary copied", final, regexp.MustCompile(`(?m)^COPY\s+--from=` + regexp.QuoteMeta(builderName) + `\s+\S+\s+/riskd\s*$`), "COPY --from=" + builderName + " ... /riskd"},
		{"final", "non-root user", final, regexp.MustCompile(`(?m)^USER\s+(nonroot|[1-9][0-9]*)(:\S+)?\s*$`), "USER nonroot (or a non-zero uid)"},
		{"final", "entrypoint", final, regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["/riskd"\]\s*$`), `ENTRYPOINT ["/riskd"]`},
		{"final", "metrics port", final, regexp.MustCompile(`(?m)^EXPOSE\s+9464\s*$`), "EXPOSE 9464, the default metrics port"},
	} {
		if !tc.want.MatchString(tc.text) {
			t.Errorf("%s: the %s stage lacks %s: want %s", dockerfile, tc.stage, tc.name, tc.why)
		}
	}
	if regexp.MustCompile(`(?m)^USER\s+(root|0)\b`).MatchString(final) {
		t.Errorf("%s: the final stage switches to root; run as nonroot", dockerfile)
	}
	if strings.Contains(final, ".mmdb") || regexp.MustCompile(`(?m)^COPY\s+(\./)?testdata`).MatchString(final) {
		t.Errorf("%s: the final stage copies GeoIP databases or testdata; mount them instead", dockerfile)
	}
}

// TestPrometheusConfigPromtool runs `promtool check config` on the stack's
// prometheus.yml, with its rule file pointed from the container's path to
// the repository's, since the file is only mounted there under compose.
func TestPrometheusConfigPromtool(t *testing.T) {
	bin := promtool(t)
	alerts, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(readFile(t, prometheusFile), "/etc/prometheus/riskd-alerts.yml", alerts)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, dir, "check", "config", "prometheus.yml")
}
