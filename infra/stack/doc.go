// Package stack turns a topology declaration into an AWS CDK stack: one
// construct per concern (Tables, EventPipeline, Identity, HttpApi,
// Realtime, Observability), each with a Props struct and exported
// resources, composed by NewStack.
//
// The same declaration provisions the local emulator (lib/provision), so the
// tables, rules, queues and dead-letter queues a team runs on a laptop are
// the ones it deploys; the infra tests hold the two against each other.
//
// Lambda code comes from a Code source: AssetDirs reads the build/<name>/
// folders that `make build` fills with a linux/arm64 `bootstrap` binary per
// function.
package stack
