package orders

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/threefactor/framework/lib/change"
)

// Status is where an order is in the workflow.
type Status string

// The order statuses, in workflow order. REJECTED and PAYMENT_FAILED end
// an order; DRIVER_ASSIGNED is the happy end.
const (
	Placed         Status = "PLACED"
	Validated      Status = "VALIDATED"
	Rejected       Status = "REJECTED"
	Paid           Status = "PAID"
	PaymentFailed  Status = "PAYMENT_FAILED"
	Approved       Status = "APPROVED"
	DriverAssigned Status = "DRIVER_ASSIGNED"
)

// Limits on an order's shape, checked by placeOrder (line count) and by
// the validate-order step (quantities).
const (
	MaxLines    = 50
	MaxQuantity = 50
)

// Order is an order item in the orders table. The dynamodbav and json
// names agree, so the same struct decodes a stored item and a change
// event's image.
type Order struct {
	ID     string `dynamodbav:"id" json:"id"`
	Status Status `dynamodbav:"status" json:"status"`
	// CustomerID is the subject (identity.Identity.Subject) of the user
	// who placed the order: its owner. The ByCustomer index lists a
	// customer's orders by it.
	CustomerID   string `dynamodbav:"customerId,omitempty" json:"customerId,omitempty"`
	RestaurantID string `dynamodbav:"restaurantId" json:"restaurantId"`
	Items        []Item `dynamodbav:"items" json:"items"`
	// TotalCents is set when the order is validated.
	TotalCents int64 `dynamodbav:"totalCents" json:"totalCents"`
	// PaymentIntent is recorded by payOrder; process-payment charges it.
	PaymentIntent *PaymentIntent `dynamodbav:"paymentIntent,omitempty" json:"paymentIntent,omitempty"`
	// Payments are the captured charges; a correct order has at most one.
	Payments []Payment `dynamodbav:"payments" json:"payments"`
	DriverID string    `dynamodbav:"driverId,omitempty" json:"driverId,omitempty"`
	// Reason says why an order was rejected or its payment failed.
	Reason string `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	// CorrelationID is the id of the request that placed the order; the
	// change events of every later step carry it.
	CorrelationID string `dynamodbav:"correlationId,omitempty" json:"correlationId,omitempty"`
	// CausedBy is the subject (correlation.Subject) who caused the latest
	// write: every write of the store records it.
	CausedBy string `dynamodbav:"causedBy,omitempty" json:"causedBy,omitempty"`
	// CreatedAt and UpdatedAt are UTC times in TimeLayout, whose text
	// sorts as the times do: the indexes order a listing by CreatedAt.
	CreatedAt string `dynamodbav:"createdAt" json:"createdAt"`
	UpdatedAt string `dynamodbav:"updatedAt" json:"updatedAt"`
}

// TimeLayout is the layout of an order's times: RFC 3339 in UTC with a
// fixed nine-digit fraction, so that their text sorts as the times do
// (time.RFC3339Nano drops trailing zeros, which breaks that).
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Item is one line of an order.
type Item struct {
	MenuItemID string `dynamodbav:"menuItemId" json:"menuItemId"`
	Quantity   int64  `dynamodbav:"quantity" json:"quantity"`
}

// PaymentIntent is a client's request to pay an order. Its ID is the
// payment provider's idempotency key: however often the charge is tried,
// the provider captures it at most once.
type PaymentIntent struct {
	ID          string `dynamodbav:"id" json:"id"`
	AmountCents int64  `dynamodbav:"amountCents" json:"amountCents"`
	CreatedAt   string `dynamodbav:"createdAt" json:"createdAt"`
}

// Payment is a captured charge.
type Payment struct {
	// ID is the provider's charge id.
	ID          string `dynamodbav:"id" json:"id"`
	AmountCents int64  `dynamodbav:"amountCents" json:"amountCents"`
	// IntentID is the payment intent the charge captured.
	IntentID   string `dynamodbav:"intentId" json:"intentId"`
	CapturedAt string `dynamodbav:"capturedAt" json:"capturedAt"`
}

// HasPayment reports whether a payment with this charge id is recorded.
func (o Order) HasPayment(chargeID string) bool {
	for _, p := range o.Payments {
		if p.ID == chargeID {
			return true
		}
	}
	return false
}

// Restaurant is an item in the restaurants table.
type Restaurant struct {
	ID   string     `dynamodbav:"id" json:"id"`
	Name string     `dynamodbav:"name" json:"name"`
	Menu []MenuItem `dynamodbav:"menu" json:"menu"`
}

// MenuItem is one dish on a restaurant's menu.
type MenuItem struct {
	ID         string `dynamodbav:"id" json:"id"`
	Name       string `dynamodbav:"name" json:"name"`
	PriceCents int64  `dynamodbav:"priceCents" json:"priceCents"`
}

// MenuItem finds a dish on the menu by id.
func (r Restaurant) MenuItem(id string) (MenuItem, bool) {
	for _, m := range r.Menu {
		if m.ID == id {
			return m, true
		}
	}
	return MenuItem{}, false
}

// NewID makes a random id with a readable prefix, such as "ord_".
func NewID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// IDOf is the id of the order a change event is about, from its keys,
// which every event carries (even one reduced for size).
func IDOf(e change.Event) (string, error) {
	var k struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(e.Keys, &k); err != nil {
		return "", fmt.Errorf("event %s: keys: %w", e.ID, err)
	}
	if k.ID == "" {
		return "", fmt.Errorf("event %s: keys have no order id", e.ID)
	}
	return k.ID, nil
}
