// Package change is the framework's change event: one committed change of
// one DynamoDB item, as the stream router publishes it to EventBridge and
// as functions and the realtime fan-out receive it.
//
// FromDynamoDB turns a stream record into an Event, with the images as
// plain JSON (numbers digit for digit, sets as arrays, binary as base64)
// and the names of the changed top-level attributes, which route patterns
// match on. Event.Detail is the EventBridge detail the router publishes;
// FromEventBridge reads it back from the SQS message a rule delivered;
// Decode gives a handler the images as its own type. An event too large
// for EventBridge is published as Event.Reduce: keys and changed names, no
// images.
package change
