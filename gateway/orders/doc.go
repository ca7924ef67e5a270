// Package orders is the food-delivery domain shared by the GraphQL
// resolvers and the async functions: orders, payments and restaurants, the
// order status machine, and their DynamoDB store.
//
// Every write is one atomic, conditional DynamoDB operation. A step moves
// an order only from the status it expects, so redelivered events and
// concurrent handlers cannot move an order twice: the loser gets a
// *ConflictError carrying the order as it now is, and decides from that
// whether its work was already done.
//
// An order records its customer (CustomerID); the orders table's indexes
// list a customer's orders (ByCustomer) and a restaurant's (ByRestaurant),
// newest first, a page at a time (Store.CustomerOrders,
// Store.RestaurantOrders).
package orders
