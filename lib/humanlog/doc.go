// Package humanlog is a slog.Handler for a person at a terminal: one
// short line per record, its columns aligned, coloured when asked.
//
//	14:03:07.412 request      POST mutation PlaceOrder → 200  58ms  alice
//	14:03:07.690 change       orders INSERT ord_77f7dc… status=PLACED restaurantId=r-pizza
//	14:03:07.702 push         orderUpdated → connection 4f2a1c  412 B
//	14:03:08.046 validateorder order validated  status=VALIDATED totalCents=1800
//	14:03:08.047 deliver      validate-order → validateorder  #1 ok  86ms
//
// The framework's own events have a shape of their own: a GraphQL
// request ("graphql request"), a committed change ("change"), a
// delivery to a function (a record with route, attempt and outcome), a
// push to a WebSocket ("push") and a subscription ("subscribed"). Every
// other record, your code's among them, is its source (the function or
// component), its message and its attributes as key=value, without the
// bookkeeping ids that JSON logs keep for machines (event, message and
// request ids); the correlation id ends the line, shortened, so that the
// lines of one causal chain can be told apart.
//
// Logger picks the format of the dev runtime: this handler on a terminal,
// JSON (what a Lambda writes) everywhere else, and LOG_FORMAT says which
// when the default is not what you want. Structured logging stays slog:
// the same records, only their rendering differs.
package humanlog
