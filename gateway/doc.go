// Package gateway is the food-delivery app's GraphQL API: the schema
// (schema.graphql, embedded), its resolvers, and the realtime entry
// points the subscription fan-out uses (Topics, and the orderUpdated and
// restaurantOrderUpdated resolvers that turn a change into an Order).
//
// Mutations are one atomic write each and answer at once; the workflow
// that follows runs in functions/ and reaches clients through the
// subscriptions.
//
// Every operation needs a caller (identity.From). An order belongs to the
// customer who placed it; the staff of its restaurant (StaffGroup with
// RestaurantAttribute naming it, declared by Users) see it without
// payment details; to anyone else it is exactly an order that does not
// exist. Subscriptions are authorized when they start and again for every
// push.
package gateway
