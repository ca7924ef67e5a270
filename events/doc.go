// Package events is the food-delivery app's event catalogue: its tables and
// the routes that carry each committed change, by EventBridge pattern, to
// the function that takes the next step. It is the one topology declaration
// that both the dev runtime and infra/ build from.
package events
