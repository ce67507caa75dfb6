// Command riskd is the streaming risk engine: `riskd run` is one member of
// the consumer fleet, `riskd demo` tours it on an embedded broker, `riskd
// replay` decides on a file of events offline, `riskd rules check` and
// `riskd rules test` validate and test rule files.
// See README.md and the contracts for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

const usage = `riskd: a streaming risk engine for logins, tokens and transactions.

Usage:
  riskd replay --events FILE --geoip-city FILE.mmdb [--geoip-asn FILE.mmdb] [--rules DIR] [--emit all|non-allow] [--out FILE]
  riskd run --brokers HOST:PORT[,HOST:PORT...] [--group riskd] [--topics auth-events,txn-events] [--decisions-topic risk-decisions] [--dlq-topic risk-events-dlq] [--geoip-city F] [--geoip-asn F] [--rules DIR] [--clickhouse clickhouse://HOST:PORT/DB] [--metrics-addr 127.0.0.1:9464] [--config FILE]
  riskd sink --brokers HOST:PORT --clickhouse clickhouse://HOST:PORT/DB [--group riskd] [--retention-days N]
  riskd backtest --clickhouse clickhouse://HOST:PORT/DB --rules DIR --from T --to T [--json]
  riskd report --decisions FILE.jsonl --out report.html
  riskd report --clickhouse clickhouse://HOST:PORT/DB --from T --to T --out report.html
  riskd demo [--rate EVENTS_PER_S]
  riskd rules check [--samples FILE[,FILE...]] [--geoip-city F] [--geoip-asn F] [DIR...]
  riskd rules test [--require-coverage] DIR|FILE...
  riskd rules docs

Run 'riskd COMMAND -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ignoreHangup(newLogger(os.Stderr))
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := newLogger(stderr).Level(zerolog.InfoLevel)
	var err error
	switch args[0] {
	case "replay":
		err = replayCmd(ctx, args[1:], stdin, stdout, stderr, log)
	case "run":
		err = runCmd(ctx, args[1:], stderr)
	case "sink":
		err = sinkCmd(ctx, args[1:], stderr)
	case "backtest":
		err = backtestCmd(ctx, args[1:], stdout, stderr)
	case "report":
		err = reportCmd(ctx, args[1:], stdin, stdout, stderr)
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "rules":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		switch args[1] {
		case "check":
			err = rulesCheckCmd(args[2:], stdout, stderr)
		case "test":
			err = rulesTestCmd(args[2:], stdout, stderr)
		case "docs":
			err = rulesDocsCmd(args[2:], stdout, stderr)
		default:
			err = usageError(fmt.Sprintf("unknown rules command %q: want check, test or docs", args[1]))
		}
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "riskd: %s\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "riskd: %s\n", err)
		return 1
	}
}

// onHangup is what SIGHUP does: `riskd run` sets it to reload its rules.
var onHangup atomic.Pointer[func()]

// ignoreHangup keeps SIGHUP from killing riskd undrained (its default
// action): operators send it to reload, as to Prometheus. Commands that
// reload nothing say so instead.
func ignoreHangup(log zerolog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if f := onHangup.Load(); f != nil {
				(*f)()
				continue
			}
			log.Warn().Msg("SIGHUP received: only riskd run reloads (its --rules); nothing was stopped")
		}
	}()
}

type usageError string

func (e usageError) Error() string { return string(e) }

// newLogger logs JSON, or for a person at a terminal, console lines.
func newLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}).With().Timestamp().Logger()
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
