package gateway

import "github.com/threefactor/framework/lib/graphqlhttp"

// Examples are the tabs GraphiQL opens with: place an order, watch it,
// pay it. Run PlaceOrder, put the id it answers in the other two tabs'
// variables, start OrderUpdated, then run PayOrder once the order is
// VALIDATED (2 margheritas: 1800 cents).
var Examples = []graphqlhttp.GraphiQLTab{
	{
		Query: `mutation PlaceOrder($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    id
    status
  }
}
`,
		Variables: `{
  "input": {
    "restaurantId": "r-pizza",
    "items": [{ "menuItemId": "margherita", "quantity": 2 }]
  }
}`,
	},
	{
		Query: `subscription OrderUpdated($id: ID!) {
  orderUpdated(id: $id) {
    id
    status
    totalCents
    payments { id amountCents }
    driverId
    reason
  }
}
`,
		Variables: `{ "id": "the id PlaceOrder answered" }`,
	},
	{
		Query: `mutation PayOrder($input: PayOrderInput!) {
  payOrder(input: $input) {
    id
    status
    paymentIntent { id amountCents }
  }
}
`,
		Variables: `{
  "input": { "orderId": "the id PlaceOrder answered", "amountCents": 1800 }
}`,
	},
}
