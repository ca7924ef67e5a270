// Package store keeps realtime connections and their subscriptions in
// DynamoDB: the framework's connections table (one item per WebSocket
// connection, with its protocol state) and subscriptions table (partition
// key topic, sort key connectionId#subscriptionId, indexed by connection),
// so that finding who to push a change to is one Query on a topic and costs
// what matches, not what is stored. The same partition holds the topic's
// push-queue mark (MarkQueued, MarkDone): the fan-out's Query for the
// audience (Audience) reads it at no extra cost.
package store
