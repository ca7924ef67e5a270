// Package emulator starts and finds a local AWS API emulator (moto's
// server) on loopback: a private one for a test run, a private one that
// enforces IAM with a user per caller (StartEnforcingIAM, CreateUser), or
// a long-lived one for the dev runtime that outlives it like a database
// server.
package emulator
