package humanlog

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/threefactor/framework/lib/correlation"
)

// Environment variables Logger reads.
const (
	// EnvFormat is the log format: "human" or "json". Default: human when
	// the output is a terminal, JSON otherwise (tests, CI, a file).
	EnvFormat = "LOG_FORMAT"
	// EnvLevel is the lowest level written: debug, info, warn or error.
	// Default info.
	EnvLevel = "LOG_LEVEL"
	// EnvNoColor, set to anything, turns colours off (no-color.org).
	EnvNoColor = "NO_COLOR"
)

// Formats of EnvFormat.
const (
	FormatHuman = "human"
	FormatJSON  = "json"
)

// Logger is the logger of a program a person runs, writing to f: lines
// for people (Handler, coloured) when f is a terminal, JSON lines
// otherwise, unless getenv(EnvFormat) says which; getenv(EnvLevel) sets
// the level. Either way records carry the correlation id and subject of
// the context passed to the *Context methods (correlation.WrapHandler).
// o sets the human format's options; its Level and Color are set here.
func Logger(f *os.File, getenv func(string) string, o Options) (*slog.Logger, error) {
	var lvl slog.Level
	if v := getenv(EnvLevel); v != "" {
		if err := lvl.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("%s=%q: want debug, info, warn or error", EnvLevel, v)
		}
	}
	terminal := isatty.IsTerminal(f.Fd())
	format := strings.ToLower(getenv(EnvFormat))
	switch format {
	case "":
		format = FormatJSON
		if terminal {
			format = FormatHuman
		}
	case FormatHuman, FormatJSON:
	default:
		return nil, fmt.Errorf("%s=%q: want %s or %s", EnvFormat, getenv(EnvFormat), FormatHuman, FormatJSON)
	}
	var h slog.Handler
	if format == FormatJSON {
		h = slog.NewJSONHandler(f, &slog.HandlerOptions{Level: lvl})
	} else {
		o.Level = lvl
		o.Color = terminal && getenv(EnvNoColor) == ""
		h = NewHandler(f, &o)
	}
	return slog.New(correlation.WrapHandler(h)), nil
}
