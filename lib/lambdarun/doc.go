// Package lambdarun runs an app's Lambda functions as their deployment
// artifacts: each function's bootstrap, built as `make build` builds it
// (for the host), under AWS's runtime interface emulator (built from
// source), with the environment its synthesized template gives it and the
// permissions of its execution role.
//
//   - Build and BuildEmulator build the binaries; Start runs one under the
//     emulator, and its SQS, DynamoDBStream, HTTPAPI and WebSocketAPI
//     methods invoke it with the events of its triggers, with the
//     signatures of the in-process handlers they stand in for (so the dev
//     runtime's mappings and front doors drive a binary as they drive a
//     handler).
//   - LoadStack reads a synthesized template (package cfn): each
//     function's environment, role statements, mappings and APIs, with
//     every resource resolved to what the dev provisioner made locally.
//   - EmulatorPolicy turns a role's statements into the policy of an IAM
//     user on an emulator that enforces IAM (emulator.StartEnforcingIAM);
//     Access records what the emulator, or a local Management API, refused
//     a function, naming the action, and has the Management API verify
//     each function's signature with its own keys.
//
// The dev runtime runs the functions this way with DEV_LAMBDA=binary, and
// tests/lambda runs a whole app's workflow through its binaries.
package lambdarun
