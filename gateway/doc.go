// Package gateway is the food-delivery app's GraphQL API: the schema
// (schema.graphql, embedded), its resolvers, and the realtime entry
// points the subscription fan-out uses (Topics, and the orderUpdated
// resolver that turns a change into an Order).
//
// Mutations are one atomic write each and answer at once; the workflow
// that follows runs in functions/ and reaches clients through
// orderUpdated.
package gateway
