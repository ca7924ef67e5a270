package gateway

import (
	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
)

// RestaurantResolver resolves a Restaurant.
type RestaurantResolver struct{ r orders.Restaurant }

func (r *RestaurantResolver) ID() graphql.ID { return graphql.ID(r.r.ID) }
func (r *RestaurantResolver) Name() string   { return r.r.Name }
func (r *RestaurantResolver) Menu() []*MenuItemResolver {
	out := make([]*MenuItemResolver, len(r.r.Menu))
	for i := range r.r.Menu {
		out[i] = &MenuItemResolver{m: r.r.Menu[i]}
	}
	return out
}

// MenuItemResolver resolves a MenuItem.
type MenuItemResolver struct{ m orders.MenuItem }

func (m *MenuItemResolver) ID() graphql.ID    { return graphql.ID(m.m.ID) }
func (m *MenuItemResolver) Name() string      { return m.m.Name }
func (m *MenuItemResolver) PriceCents() int32 { return int32(m.m.PriceCents) }

// OrderResolver resolves an Order as one caller may see it (see present):
// it is only ever built from an order already cut to the caller's view.
type OrderResolver struct{ o orders.Order }

func (o *OrderResolver) ID() graphql.ID           { return graphql.ID(o.o.ID) }
func (o *OrderResolver) Status() string           { return string(o.o.Status) }
func (o *OrderResolver) RestaurantID() graphql.ID { return graphql.ID(o.o.RestaurantID) }
func (o *OrderResolver) TotalCents() int32        { return int32(o.o.TotalCents) }
func (o *OrderResolver) CreatedAt() string        { return o.o.CreatedAt }
func (o *OrderResolver) UpdatedAt() string        { return o.o.UpdatedAt }

func (o *OrderResolver) Items() []*OrderItemResolver {
	out := make([]*OrderItemResolver, len(o.o.Items))
	for i := range o.o.Items {
		out[i] = &OrderItemResolver{it: o.o.Items[i]}
	}
	return out
}

func (o *OrderResolver) Payments() []*PaymentResolver {
	out := make([]*PaymentResolver, len(o.o.Payments))
	for i, p := range o.o.Payments {
		out[i] = &PaymentResolver{id: p.ID, amount: p.AmountCents}
	}
	return out
}

func (o *OrderResolver) PaymentIntent() *PaymentResolver {
	if o.o.PaymentIntent == nil {
		return nil
	}
	return &PaymentResolver{id: o.o.PaymentIntent.ID, amount: o.o.PaymentIntent.AmountCents}
}

func (o *OrderResolver) DriverID() *graphql.ID {
	if o.o.DriverID == "" {
		return nil
	}
	id := graphql.ID(o.o.DriverID)
	return &id
}

func (o *OrderResolver) Reason() *string {
	if o.o.Reason == "" {
		return nil
	}
	return &o.o.Reason
}

// OrderItemResolver resolves an OrderItem.
type OrderItemResolver struct{ it orders.Item }

func (i *OrderItemResolver) MenuItemID() graphql.ID { return graphql.ID(i.it.MenuItemID) }
func (i *OrderItemResolver) Quantity() int32        { return int32(i.it.Quantity) }

// PaymentResolver resolves a Payment and a PaymentIntent (same fields).
type PaymentResolver struct {
	id     string
	amount int64
}

func (p *PaymentResolver) ID() graphql.ID     { return graphql.ID(p.id) }
func (p *PaymentResolver) AmountCents() int32 { return int32(p.amount) }
