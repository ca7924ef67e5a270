// Package fooddelivery is the food-delivery app's one declaration: its
// tables, its functions with their handlers, the routes that carry each
// committed change, by EventBridge pattern, to the function that takes the
// next step, and its GraphQL API. The dev runtime, every Lambda main, the
// CDK app, the tests and the threefactor CLI read it (App); nothing else
// lists a table or a function.
//
// The package lives in the events/ folder and is named for the app:
// import it as
//
//	fooddelivery "github.com/threefactor/framework/events"
//
// A new app replaces this package (and gateway/ and functions/), never lib/.
package fooddelivery
