package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/identity"
)

// maxCursorLen bounds the cursors clients send back, well above what
// encodeCursor makes.
const maxCursorLen = 512

// ListArgs are a listing's paging arguments: first (the schema's default
// is 20) and after.
type ListArgs struct {
	First int32
	After *string
}

// MyOrders lists the caller's orders, newest first, a page at a time.
// The listing reads an index, which is eventually consistent on AWS: an
// order placed a moment ago may be missing from it for a moment.
func (r *Resolver) MyOrders(ctx context.Context, args ListArgs) (*OrderPageResolver, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, after, err := paging(args, orders.ByCustomer)
	if err != nil {
		return nil, err
	}
	page, err := r.store.CustomerOrders(ctx, who.Subject, limit, after)
	if err != nil {
		return nil, r.internal(ctx, "list the caller's orders", err)
	}
	return newPage(page, orders.ByCustomer, func(o orders.Order) view { return viewOf(who, o) }), nil
}

// RestaurantOrders lists a restaurant's orders, newest first, a page at a
// time, for its staff only (StaffGroup with RestaurantAttribute naming
// it): anyone else gets FORBIDDEN, whether the restaurant exists or not.
// Staff see the orders without payment details.
func (r *Resolver) RestaurantOrders(ctx context.Context, args struct {
	RestaurantID graphql.ID
	First        int32
	After        *string
}) (*OrderPageResolver, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rid := string(args.RestaurantID)
	if err := mayWatchRestaurant(who, rid, "list"); err != nil {
		return nil, err
	}
	limit, after, err := paging(ListArgs{First: args.First, After: args.After}, orders.ByRestaurant)
	if err != nil {
		return nil, err
	}
	page, err := r.store.RestaurantOrders(ctx, rid, limit, after)
	if err != nil {
		return nil, r.internal(ctx, "list the restaurant's orders", err)
	}
	return newPage(page, orders.ByRestaurant, func(o orders.Order) view { return viewOf(who, o) }), nil
}

// mayWatchRestaurant allows only the staff of restaurant rid to list or
// watch its orders.
func mayWatchRestaurant(who identity.Identity, rid, what string) error {
	switch {
	case rid == "" || len(rid) > maxIDLen:
		return errs.Newf(errs.BadUserInput, "restaurantId must be 1 to %d characters", maxIDLen)
	case staffOf(who) != rid:
		return errs.Newf(errs.Forbidden, "only the staff of restaurant %q may %s its orders", rid, what)
	}
	return nil
}

// paging reads first and after for a listing of index.
func paging(args ListArgs, index string) (int, *orders.Cursor, error) {
	limit := int(args.First)
	if limit < 1 || limit > orders.MaxPage {
		return 0, nil, errs.Newf(errs.BadUserInput, "first must be 1 to %d, got %d", orders.MaxPage, limit)
	}
	if args.After == nil {
		return limit, nil, nil
	}
	c, ok := decodeCursor(*args.After, index)
	if !ok {
		return 0, nil, errs.New(errs.BadUserInput, "after is not a cursor of this listing: pass the nextCursor of its previous page")
	}
	return limit, c, nil
}

// cursor is a listing's position as clients carry it: opaque to them.
// It names its index, so that a cursor of one listing is refused by
// another; the partition (whose orders) is never in it: it comes from
// the caller.
type cursor struct {
	Index     string `json:"x"`
	CreatedAt string `json:"c"`
	ID        string `json:"i"`
}

func encodeCursor(c *orders.Cursor, index string) *string {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(cursor{Index: index, CreatedAt: c.CreatedAt, ID: c.ID})
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(s, index string) (*orders.Cursor, bool) {
	if s == "" || len(s) > maxCursorLen {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Index != index ||
		c.ID == "" || len(c.ID) > maxIDLen || c.CreatedAt == "" || len(c.CreatedAt) > maxIDLen {
		return nil, false
	}
	return &orders.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}, true
}

// OrderPageResolver resolves an OrderPage.
type OrderPageResolver struct {
	orders []*OrderResolver
	next   *string
}

func newPage(p orders.Page, index string, viewFor func(orders.Order) view) *OrderPageResolver {
	out := &OrderPageResolver{orders: make([]*OrderResolver, 0, len(p.Orders)), next: encodeCursor(p.Next, index)}
	for _, o := range p.Orders {
		// The index holds only the caller's partition; the check is the
		// same rule every read applies, kept here too.
		if v := viewFor(o); v != hidden {
			out.orders = append(out.orders, present(o, v))
		}
	}
	return out
}

func (p *OrderPageResolver) Orders() []*OrderResolver { return p.orders }
func (p *OrderPageResolver) NextCursor() *string      { return p.next }
