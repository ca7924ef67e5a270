package cli_test

import (
	"context"
	"os"

	"github.com/threefactor/framework/lib/cli"
)

// An app's command line is cli.Main(cli.Config{App: ...}) in its
// cmd/threefactor; Run is the same without the process around it.
func ExampleRun() {
	cli.Run(context.Background(), cli.Config{App: notes}, []string{"routes"}, os.Stdout, os.Stderr)
	// Output:
	// index-notes -> index
	//   batch size 10, max receive count 5, visibility timeout 120s
	//   local queue notes-index-notes (dlq notes-index-notes-dlq)
	//   pattern
	//     {
	//       "detail": {
	//         "new": {
	//           "kind": ["a", "b"]
	//         },
	//         "old": {
	//           "kind": [{"anything-but": ["a"]}]
	//         },
	//         "operation": ["INSERT", "MODIFY"],
	//         "table": ["notes"]
	//       },
	//       "detail-type": ["Change"],
	//       "source": ["notes.changes"]
	//     }
	//
	// drop-notes -> index
	//   batch size 1, max receive count 3, visibility timeout 120s
	//   local queue notes-drop-notes (dlq notes-drop-notes-dlq)
	//   pattern
	//     {
	//       "detail": {
	//         "operation": ["REMOVE"],
	//         "table": ["notes"]
	//       },
	//       "detail-type": ["Change"],
	//       "source": ["notes.changes"]
	//     }
	//
	// eventlog -> eventlog
	//   the framework's: every change event, to the event log
	//   batch size 10, max receive count 20, visibility timeout 180s
	//   local queue notes-eventlog (dlq notes-eventlog-dlq)
	//   pattern
	//     {
	//       "detail-type": ["Change"],
	//       "source": ["notes.changes"]
	//     }
}
