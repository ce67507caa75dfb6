package storage

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
	"time"
)

//go:embed queries.sql
var queriesSQL string

// AnalystQuery is one of the documented queries of queries.sql.
type AnalystQuery struct {
	Name, Doc, SQL string
}

// Queries returns the analysts' queries in file order.
func Queries() []AnalystQuery {
	var out []AnalystQuery
	for _, block := range strings.Split(queriesSQL, "-- name: ")[1:] {
		lines := strings.Split(block, "\n")
		q := AnalystQuery{Name: strings.TrimSpace(lines[0])}
		var doc, sql []string
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "-- ") && len(sql) == 0 {
				doc = append(doc, strings.TrimPrefix(l, "-- "))
				continue
			}
			sql = append(sql, l)
		}
		q.Doc = strings.Join(doc, " ")
		q.SQL = strings.TrimSuffix(strings.TrimSpace(strings.Join(sql, "\n")), ";")
		out = append(out, q)
	}
	return out
}

var param = regexp.MustCompile(`\{(from|to|user)\}`)

// Bind returns q's SQL for database db with its parameters filled in:
// tables are qualified with db, from and to become DateTime literals and
// user a quoted string.
func (q AnalystQuery) Bind(db string, from, to time.Time, user string) string {
	sql := strings.NewReplacer("FROM risk_", "FROM "+db+".risk_").Replace(q.SQL)
	return param.ReplaceAllStringFunc(sql, func(m string) string {
		switch m {
		case "{from}":
			return fmt.Sprintf("toDateTime('%s')", from.UTC().Format("2006-01-02 15:04:05"))
		case "{to}":
			return fmt.Sprintf("toDateTime('%s')", to.UTC().Format("2006-01-02 15:04:05"))
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(user) + "'"
	})
}
