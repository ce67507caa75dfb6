// Package storage keeps features and decisions in ClickHouse for analysts
// and backtests: the tables and their migrations, the rows, batch inserts
// with retries, retention, and the analysts' queries. The SQL runs on
// ClickHouse 18.16 (Debian's package) and on current servers: inserts name
// their columns, and the only newer type, LowCardinality, is used when the
// server has it.
package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/riskd/riskd/detectors"
)

// Table names (contract §4).
const (
	FeaturesTable   = "risk_features"
	DecisionsTable  = "risk_decisions"
	MigrationsTable = "riskd_migrations"
)

// Version is a server version, as far as the schema cares.
type Version struct{ Major, Minor int }

// HasLowCardinality reports whether the server has the LowCardinality type
// (19.3 and later; 18.16 does not).
func (v Version) HasLowCardinality() bool { return v.Major > 19 || (v.Major == 19 && v.Minor >= 3) }

// column is one column of a table: its name, its type on a server without
// newer types, and whether it is a low-cardinality string.
type column struct {
	name, typ string
	low       bool
}

func (c column) ddl(v Version) string {
	if c.low && v.HasLowCardinality() {
		return c.name + " LowCardinality(String)"
	}
	return c.name + " " + c.typ
}

// eventColumns are the event fields and enrichment of a risk_features row.
var eventColumns = []column{
	{"event_id", "String", false},
	{"user_id", "String", false},
	{"type", "String", true},
	{"ts", "DateTime", false},
	{"ts_ms", "Int64", false}, // event time in Unix milliseconds: DateTime64 is newer than 18.16
	{"outcome", "String", true},
	{"failure_reason", "String", true},
	{"ip", "String", false},
	{"device_id", "String", false},
	{"session_id", "String", false},
	{"token_id", "String", false},
	{"refresh_token_id", "String", false},
	{"refresh_family_id", "String", false},
	{"user_agent", "String", false},
	{"app_platform", "String", true},
	{"app_version", "String", true},
	{"app_rooted", "UInt8", false},
	{"app_hooked", "UInt8", false},
	{"app_debugger", "UInt8", false},
	{"app_emulator", "UInt8", false},
	{"app_repackaged", "UInt8", false},
	{"app_attestation", "String", true},
	{"txn_amount", "Float64", false},
	{"txn_currency", "String", true},
	{"txn_beneficiary_id", "String", false},
	{"txn_kind", "String", true},
	{"change_field", "String", true},
	{"located", "UInt8", false},
	{"country", "String", true},
	{"city", "String", false},
	{"lat", "Float64", false},
	{"lon", "Float64", false},
	{"radius_km", "Float64", false},
	{"asn", "UInt32", false},
	{"as_org", "String", false},
}

// tailColumns close a risk_features row.
var tailColumns = []column{
	{"stage", "UInt8", false}, // 0 user stage, 1 address stage: the version of ReplacingMergeTree
	{"rules_version", "String", true},
	{"event_json", "String", false}, // the event as received, for exact backtests
}

// featureField is one feature: a column named group_field, read from
// Features by index path.
type featureField struct {
	column
	index []int
}

// featureFields lists every feature the rules can read, from the expr
// names of detectors.Features (ip_failures, impossible_travel_speed_kmh,
// velocity_fired, ...), so that a feature added there gets a column.
var featureFields = func() []featureField {
	var out []featureField
	ft := reflect.TypeOf(detectors.Features{})
	for i := 0; i < ft.NumField(); i++ {
		g := ft.Field(i)
		for j := 0; j < g.Type.NumField(); j++ {
			f := g.Type.Field(j)
			var typ string
			switch f.Type.Kind() {
			case reflect.Bool:
				typ = "UInt8"
			case reflect.Int:
				typ = "Int64"
			case reflect.Float64:
				typ = "Float64"
			case reflect.String:
				typ = "String"
			default:
				panic("storage: feature " + f.Name + " has a type without a column type")
			}
			out = append(out, featureField{column{g.Tag.Get("expr") + "_" + f.Tag.Get("expr"), typ, false}, []int{i, j}})
		}
	}
	return out
}()

// FeatureColumns returns the column names of risk_features in insert order.
func FeatureColumns() []string {
	var names []string
	for _, c := range eventColumns {
		names = append(names, c.name)
	}
	for _, f := range featureFields {
		names = append(names, f.name)
	}
	for _, c := range tailColumns {
		names = append(names, c.name)
	}
	return names
}

// decisionColumns are risk_decisions' columns in insert order.
var decisionColumns = []column{
	{"decision_id", "String", false},
	{"event_id", "String", false},
	{"user_id", "String", false},
	{"subject_kind", "String", true},
	{"subject_id", "String", false},
	{"action", "String", true},
	{"score", "Float64", false},
	{"ts", "DateTime", false},
	{"ts_ms", "Int64", false},
	{"decided_at", "DateTime", false},
	{"expires_at", "DateTime", false},
	{"expires_at_ms", "Int64", false},
	{"mode", "String", true},
	{"rules_version", "String", true},
	{"rules", "Array(String)", false},     // ids of the rules that fired
	{"detectors", "Array(String)", false}, // their detectors, in the same order
	{"reasons", "String", false},          // the reasons as JSON, evidence included
}

// DecisionColumns returns the column names of risk_decisions in insert order.
func DecisionColumns() []string {
	names := make([]string, len(decisionColumns))
	for i, c := range decisionColumns {
		names[i] = c.name
	}
	return names
}

// migration is one schema change, applied once and recorded.
type migration struct {
	version int
	name    string
	sql     func(db string, v Version) string
}

var migrations = []migration{
	{1, "create risk_features", func(db string, v Version) string {
		cols := append(append(append([]column{}, eventColumns...), featureColumnsOf(1)...), tailColumns...)
		// One row per event after merges: the address stage's row (stage 1,
		// a superset) replaces the user stage's, a redelivery replaces itself.
		return createTable(db, FeaturesTable, cols, v, "ReplacingMergeTree(stage)", "(user_id, ts, event_id)")
	}},
	{2, "create risk_decisions", func(db string, v Version) string {
		return createTable(db, DecisionsTable, decisionColumns, v, "ReplacingMergeTree", "(user_id, ts, decision_id)")
	}},
	{3, "add the long-window, network and payment-day features", func(db string, v Version) string {
		return addColumns(db, FeaturesTable, featureColumnsOf(3), v)
	}},
}

// laterFeatures are the feature columns added to risk_features after it
// was created, by the migration that adds them (the table of a new
// database is created as version 1 made it, then altered like an old
// one). A feature added to detectors.Features later goes here with a new
// migration calling addColumns: ClickHouse 18.16 has no ADD COLUMN IF NOT
// EXISTS, so a table is altered once, by the migration.
var laterFeatures = map[string]int{
	"failed_login_burst_failures_long": 3, "failed_login_burst_long_fired": 3,
	"ip_failed_users_long": 3, "ip_failure_ratio_long": 3, "ip_long_fired": 3, "ip_stuffing": 3,
	"network_fired": 3, "network_summary": 3, "network_prefix": 3, "network_attempts": 3, "network_failures": 3,
	"network_failed_users": 3, "network_success_users": 3, "network_failed_addresses": 3, "network_failure_ratio": 3, "network_allowlisted": 3, "network_stuffing": 3,
	"velocity_new_beneficiaries_24h": 3, "velocity_day_ratio": 3, "velocity_day_fired": 3,
}

// featureColumnsOf returns the feature columns migration version adds:
// for 1, those risk_features was created with.
func featureColumnsOf(version int) []column {
	var out []column
	for _, f := range featureFields {
		if max(laterFeatures[f.name], 1) == version {
			out = append(out, f.column)
		}
	}
	return out
}

// addColumns is the statement adding cols to table, in one ALTER: the
// server applies all of them or none. Another instance's migration may
// have run it first; Migrate takes its "already exists" for applied.
func addColumns(db, table string, cols []column, v Version) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = "ADD COLUMN " + c.ddl(v)
	}
	return fmt.Sprintf("ALTER TABLE %s.%s %s", db, table, strings.Join(defs, ", "))
}

// errColumnExists is ClickHouse's code for adding a column a table has.
const errColumnExists = 44

func createTable(db, table string, cols []column, v Version, engine, order string) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = "    " + c.ddl(v)
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (\n%s\n) ENGINE = %s\nPARTITION BY toYYYYMMDD(ts)\nORDER BY %s",
		db, table, strings.Join(defs, ",\n"), engine, order)
}

// CreateStatements returns the statements of every migration for a server
// of version v, in order.
func CreateStatements(db string, v Version) []string {
	out := make([]string, len(migrations))
	for i, m := range migrations {
		out[i] = m.sql(db, v)
	}
	return out
}

// ServerVersion asks the server its version.
func ServerVersion(ctx context.Context, conn driver.Conn) (Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, err
	}
	return Version{int(sv.Version.Major), int(sv.Version.Minor)}, nil
}

// Migrate creates the database objects riskd needs and records each
// migration in riskd_migrations. It is safe to run from several instances at
// once: every statement is idempotent.
func Migrate(ctx context.Context, conn driver.Conn, db string) error {
	v, err := ServerVersion(ctx, conn)
	if err != nil {
		return fmt.Errorf("clickhouse: server version: %w", err)
	}
	if err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", db)); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	if err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog", db, MigrationsTable)); err != nil {
		return fmt.Errorf("clickhouse: migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT version FROM %s.%s", db, MigrationsTable))
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	for rows.Next() {
		var n uint32
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		applied[int(n)] = true
	}
	rows.Close()
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if err := conn.Exec(ctx, m.sql(db, v)); err != nil && !columnExists(err) {
			return fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
		}
		// A native batch: 18.16 does not finish an INSERT whose values
		// are inline over the native protocol.
		batch, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (version, name, applied_at)", db, MigrationsTable))
		if err == nil {
			if err = batch.Append(uint32(m.version), m.name, time.Now().UTC()); err == nil {
				err = batch.Send()
			}
		}
		if err != nil {
			return fmt.Errorf("clickhouse: record migration %d: %w", m.version, err)
		}
	}
	return nil
}

// columnExists reports whether err is the server's refusal to add a column
// the table has: a migration another instance applied at the same time.
func columnExists(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == errColumnExists
}

// Open connects to dsn (clickhouse://HOST:PORT/DB, native protocol) and
// returns the connection and the database name (default when the DSN names
// none).
func Open(dsn string) (driver.Conn, string, error) {
	opts, err := parseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("--clickhouse %s: %w (want clickhouse://[USER:PASSWORD@]HOST:PORT/DB)", RedactDSN(dsn), dsnError(dsn, err))
	}
	db := opts.Auth.Database
	if db == "" {
		db = "default"
	}
	// The session starts in default: db may not exist until Migrate, and
	// every statement names it.
	opts.Auth.Database = "default"
	opts.DialTimeout = 5 * time.Second
	opts.ReadTimeout = time.Minute
	opts.MaxOpenConns = 4
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, "", err
	}
	return conn, db, nil
}
