// Package emulator starts and finds a local AWS API emulator (moto's
// server) on loopback: a private one for a test run, or a long-lived one
// for the dev runtime that outlives it like a database server.
package emulator
