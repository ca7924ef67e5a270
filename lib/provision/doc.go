// Package provision creates an app's data plane on an AWS-compatible
// endpoint from its topology: tables (keys, indexes, streams, TTL), the
// event bus, and per route a queue with its dead-letter queue and a rule
// whose pattern is the route's. It is idempotent: running it again updates
// patterns and queue attributes in place and keeps every table and its data.
//
// The dev runtime runs it against the local emulator (moto by default,
// LocalStack or an AWS account when AWS_ENDPOINT_URL or credentials say so).
// Describe reads back what exists, so tests can hold the emulator, the
// topology and the synthesized CDK template against each other.
package provision
