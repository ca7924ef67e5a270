package humanlog_test

import (
	"log/slog"
	"os"

	"github.com/threefactor/framework/lib/humanlog"
)

// A program a person runs picks its format from its output: this
// handler on a terminal, JSON otherwise, LOG_FORMAT to choose.
func ExampleLogger() {
	log, err := humanlog.Logger(os.Stderr, os.Getenv, humanlog.Options{SourceWidth: 18})
	if err != nil {
		panic(err) // a bad LOG_FORMAT or LOG_LEVEL
	}
	slog.SetDefault(log)
}

func ExampleNewHandler() {
	log := slog.New(humanlog.NewHandler(os.Stdout, nil))
	log.Info("order validated", "component", "validateorder", "status", "VALIDATED", "totalCents", 1800)
}
