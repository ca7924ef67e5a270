// Package scaffold adds code to an app without touching lib/: a new
// function (its package with a typed handler, a test against the emulator
// and the one-line Lambda main) declared in the app's declaration file
// with the route that feeds it.
//
// The declaration file is Go source that people edit, so the generator
// edits it the way a careful person would: it finds the App variable's
// composite literal with go/parser, inserts the new function and route
// before the closing braces of its Functions and Routes lists, adds the
// imports, and formats the file with go/format. Everything else in the
// file, comments included, stays as it was. When the file does not have
// that shape the generator refuses and says what it looked for.
//
// It reads the app as it is on disk by compiling the declaration
// (LoadTopology runs a small program with `go run` that prints
// App.Topology()), so the tables and names it checks against are the
// app's own, whichever folder the app lives in. After writing it compiles
// the app again with the new function and validates the declaration; when
// that fails every change is undone.
//
// The threefactor command's `new function` verb is Generate; its tests and
// the golden files in testdata show the code it writes.
package scaffold
