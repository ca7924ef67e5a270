// Package router is the app's stream router Lambda. Its logic is the
// framework's lib/router; lambda/main.go only wires it from the
// environment (EVENT_BUS_NAME and TABLE_<NAME> of each stream table).
package router
