package gateway

import (
	"context"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/identity"
)

// The app's users, as resolvers authorize them.
const (
	// StaffGroup is the group (role) of restaurant staff.
	StaffGroup = "restaurant"
	// RestaurantAttribute is the admin-only user attribute naming the
	// restaurant a staff member works for; tokens carry it as
	// app.AttributeClaim(RestaurantAttribute), "custom:restaurantId".
	RestaurantAttribute = "restaurantId"
)

// Users are the groups and attributes the resolvers authorize by, for the
// app's declaration (app.App.Users), from which infra creates them.
var Users = app.Users{Groups: []string{StaffGroup}, AdminOnlyAttributes: []string{RestaurantAttribute}}

var restaurantClaim = app.AttributeClaim(RestaurantAttribute)

// errUnauthenticated answers an operation run without a caller: the API's
// front door lets no request through without a token, so only a
// misconfigured deployment (or a test) sees it.
var errUnauthenticated = errs.New(errs.Unauthenticated, "this operation needs a signed-in caller")

// caller is who runs the operation (identity.From), or UNAUTHENTICATED.
func caller(ctx context.Context) (identity.Identity, error) {
	id, ok := identity.From(ctx)
	if !ok || id.Subject == "" {
		return identity.Identity{}, errUnauthenticated
	}
	return id, nil
}

// staffOf is the restaurant the caller works for: "" unless they are in
// StaffGroup and carry a restaurant.
func staffOf(id identity.Identity) string {
	if !id.InGroup(StaffGroup) {
		return ""
	}
	return id.Claim(restaurantClaim)
}

// view is what of an order a caller may see.
type view int

const (
	// hidden: nothing, not even that the order exists.
	hidden view = iota
	// staffView: the order without payment details, for the staff of its
	// restaurant.
	staffView
	// customerView: all of it, for the customer who placed it.
	customerView
)

// viewOf says how the caller may see o: whole when they placed it,
// without payment details when they work for its restaurant, not at all
// otherwise.
func viewOf(id identity.Identity, o orders.Order) view {
	switch {
	case o.CustomerID != "" && o.CustomerID == id.Subject:
		return customerView
	case o.RestaurantID != "" && staffOf(id) == o.RestaurantID:
		return staffView
	}
	return hidden
}

// present resolves o as v lets the caller see it. A staff view is built
// from a copy with the payment details removed, so no field resolver can
// reach them: payments is empty, paymentIntent null, and the reason of a
// failed payment (which is about the payment) null.
func present(o orders.Order, v view) *OrderResolver {
	if v == staffView {
		o.Payments = []orders.Payment{}
		o.PaymentIntent = nil
		if o.Status == orders.PaymentFailed {
			o.Reason = ""
		}
		o.CustomerID, o.CausedBy, o.CorrelationID = "", "", ""
	}
	return &OrderResolver{o: o}
}
