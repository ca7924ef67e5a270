// Package console is the local console: a web page the dev runtime serves
// at /console/ (make dev prints it) that shows what the app did, as it
// does it:
//
//   - the latest change events, as soon as the page loads, then live as
//     they are logged, each with its deliveries to functions (route,
//     attempt, outcome, duration, error) and its realtime pushes;
//   - the trace of a correlation id: a timeline from the mutation's
//     change to the last push of the last change it caused;
//   - the history of an item (orders/ord_1): its audit trail;
//   - the routes' dead-letter queues, with buttons to redrive or drop
//     their messages.
//
// It reads only through the event log's port (eventlog.Log: Recent,
// Event, Trace, ItemHistory) and works on dead letters through package
// dlq, as `threefactor dlq` does. Live updates come over Server-Sent
// Events: one poller per console follows the log while a page listens.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary: no
// build step. It is a local tool: it answers loopback clients only, for a
// loopback host name only (a DNS-rebinding page cannot read it), and its
// mutating endpoints refuse cross-origin requests (the Origin must be the
// console's own), so a web page cannot redrive or drop a developer's
// dead letters.
package console
