package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/topology"
)

// dynamoDB is the part of the DynamoDB client the store uses.
type dynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ErrNotFound says there is no such order or restaurant.
var ErrNotFound = errors.New("not found")

// ErrConflict says a conditional write lost: the order was not in the
// status the step expects (it moved on, or never got there).
var ErrConflict = errors.New("order not in the expected status")

// ConflictError is a lost conditional write, with the order as it is now.
// errors.Is(err, ErrConflict) holds for it.
type ConflictError struct {
	// Op is the step that lost, e.g. "validate".
	Op string
	// Current is the order as read after the write lost.
	Current Order
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s order %s: %v (status is %s)", e.Op, e.Current.ID, ErrConflict, e.Current.Status)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Logical table names of the order store, as the app declares them.
const (
	OrdersTable      = "orders"
	RestaurantsTable = "restaurants"
)

// The orders table's indexes, as the app declares them: a customer's
// orders and a restaurant's orders, each sorted by createdAt.
const (
	ByCustomer   = "byCustomer"
	ByRestaurant = "byRestaurant"
)

// Indexes are the orders table's global secondary indexes (all attributes
// projected), for the app's table declaration.
func Indexes() []topology.Index {
	createdAt := &topology.Key{Name: "createdAt", Type: topology.String}
	return []topology.Index{
		{Name: ByCustomer, PartitionKey: topology.Key{Name: "customerId", Type: topology.String}, SortKey: createdAt},
		{Name: ByRestaurant, PartitionKey: topology.Key{Name: "restaurantId", Type: topology.String}, SortKey: createdAt},
	}
}

// Tables are the physical table names the store uses.
type Tables struct {
	Orders      string
	Restaurants string
}

// StoreFromEnv is the store over the tables the environment names:
// TABLE_ORDERS, required, and TABLE_RESTAURANTS, which only components
// that read restaurants get.
func StoreFromEnv(env *app.Env) (*Store, error) {
	orders, err := env.Table(OrdersTable)
	if err != nil {
		return nil, err
	}
	restaurants, _ := env.Table(RestaurantsTable)
	return NewStore(env.DynamoDB(), Tables{Orders: orders, Restaurants: restaurants}), nil
}

// Store reads and writes orders and restaurants.
type Store struct {
	db     dynamoDB
	tables Tables
	// Now is the clock for createdAt/updatedAt; tests may replace it.
	Now func() time.Time
}

// NewStore returns a store over db (a *dynamodb.Client).
func NewStore(db dynamoDB, tables Tables) *Store {
	return &Store{db: db, tables: tables, Now: time.Now}
}

func (s *Store) now() string { return s.Now().UTC().Format(TimeLayout) }

// Place writes a new order as PLACED in one conditional PutItem: it never
// overwrites an existing order. It fills in status, timestamps, an empty
// payments list and who caused the write (correlation.Subject of ctx),
// and returns the order as written. The caller sets CustomerID (the
// placeOrder resolver: the caller's subject); an order without one is in
// no customer's listing.
func (s *Store) Place(ctx context.Context, o Order) (Order, error) {
	if sub := correlation.Subject(ctx); sub != "" {
		o.CausedBy = sub
	}
	o.Status = Placed
	o.CreatedAt = s.now()
	o.UpdatedAt = o.CreatedAt
	o.Payments = []Payment{}
	o.TotalCents = 0
	o.PaymentIntent = nil
	item, err := attributevalue.MarshalMap(o)
	if err != nil {
		return Order{}, fmt.Errorf("marshal order %s: %w", o.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.tables.Orders),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Order{}, fmt.Errorf("place order %s: %w", o.ID, errAlreadyExists)
	}
	if err != nil {
		return Order{}, fmt.Errorf("place order %s: %w", o.ID, err)
	}
	return o, nil
}

// errAlreadyExists: an order id clashed; ids are random, so this is a bug.
var errAlreadyExists = errors.New("an order with this id already exists")

// Order reads an order with a strongly consistent read.
func (s *Store) Order(ctx context.Context, id string) (Order, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.tables.Orders),
		Key:            key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if out.Item == nil {
		return Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	var o Order
	if err := attributevalue.UnmarshalMap(out.Item, &o); err != nil {
		return Order{}, fmt.Errorf("unmarshal order %s: %w", id, err)
	}
	return o, nil
}

// Validate moves a PLACED order to VALIDATED with its total.
func (s *Store) Validate(ctx context.Context, id string, totalCents int64) (Order, error) {
	return s.transition(ctx, "validate", id, Placed, Validated, update{
		set: map[string]any{"totalCents": totalCents},
	})
}

// Reject moves a PLACED order to REJECTED with a reason.
func (s *Store) Reject(ctx context.Context, id, reason string) (Order, error) {
	return s.transition(ctx, "reject", id, Placed, Rejected, update{
		set: map[string]any{"reason": reason},
	})
}

// RecordIntent records a payment intent on a VALIDATED order that has
// none yet. The order stays VALIDATED; the change (paymentIntent set) is
// what triggers process-payment. An intent is never replaced: a second
// payOrder loses with a *ConflictError whose Current shows the first.
func (s *Store) RecordIntent(ctx context.Context, id string, intent PaymentIntent) (Order, error) {
	intent.CreatedAt = s.now()
	return s.transition(ctx, "record payment intent", id, Validated, Validated, update{
		set:  map[string]any{"paymentIntent": intent},
		cond: "attribute_not_exists(paymentIntent)",
	})
}

// RecordPayment appends a captured charge to the order's payments and
// moves it to PAID in one conditional update: only a VALIDATED order whose
// intent is intentID, so a charge can be recorded once at most (after the
// first, the order is PAID and the condition fails).
func (s *Store) RecordPayment(ctx context.Context, id, intentID string, p Payment) (Order, error) {
	p.IntentID = intentID
	if p.CapturedAt == "" {
		p.CapturedAt = s.now()
	}
	return s.transition(ctx, "record payment", id, Validated, Paid, update{
		appendTo: "payments", appendVal: p,
		cond:   "paymentIntent.#intentId = :intentId",
		names:  map[string]string{"#intentId": "id"},
		values: map[string]any{":intentId": intentID},
	})
}

// FailPayment moves a VALIDATED order whose intent is intentID to
// PAYMENT_FAILED with a reason.
func (s *Store) FailPayment(ctx context.Context, id, intentID, reason string) (Order, error) {
	return s.transition(ctx, "fail payment", id, Validated, PaymentFailed, update{
		set:    map[string]any{"reason": reason},
		cond:   "paymentIntent.#intentId = :intentId",
		names:  map[string]string{"#intentId": "id"},
		values: map[string]any{":intentId": intentID},
	})
}

// Approve moves a PAID order to APPROVED.
func (s *Store) Approve(ctx context.Context, id string) (Order, error) {
	return s.transition(ctx, "approve", id, Paid, Approved, update{})
}

// AssignDriver moves an APPROVED order to DRIVER_ASSIGNED with a driver.
func (s *Store) AssignDriver(ctx context.Context, id, driverID string) (Order, error) {
	return s.transition(ctx, "assign driver", id, Approved, DriverAssigned, update{
		set: map[string]any{"driverId": driverID},
	})
}

// update is the extra part of a transition: attributes to set, a list to
// append to, and an extra condition with its names and values.
type update struct {
	set       map[string]any
	appendTo  string
	appendVal any
	cond      string
	names     map[string]string
	values    map[string]any
}

// transition is one conditional UpdateItem: status from -> to, updatedAt,
// who caused it (correlation.Subject of ctx, when there is one) and the
// update's attributes, only if the order exists in status from (and the
// update's own condition holds). On a lost condition it reads the order
// and returns a *ConflictError with it.
func (s *Store) transition(ctx context.Context, op, id string, from, to Status, u update) (Order, error) {
	names := map[string]string{"#status": "status", "#updatedAt": "updatedAt"}
	values := map[string]any{":from": from, ":to": to, ":now": s.now()}
	expr := "SET #status = :to, #updatedAt = :now"
	if sub := correlation.Subject(ctx); sub != "" {
		names["#causedBy"], values[":causedBy"] = correlation.SubjectAttribute, sub
		expr += ", #causedBy = :causedBy"
	}
	i := 0
	setKeys := make([]string, 0, len(u.set))
	for k := range u.set {
		setKeys = append(setKeys, k)
	}
	sort.Strings(setKeys)
	for _, k := range setKeys {
		n, v := fmt.Sprintf("#s%d", i), fmt.Sprintf(":s%d", i)
		names[n], values[v] = k, u.set[k]
		expr += fmt.Sprintf(", %s = %s", n, v)
		i++
	}
	if u.appendTo != "" {
		names["#list"] = u.appendTo
		values[":item"] = []any{u.appendVal}
		values[":empty"] = []any{}
		expr += ", #list = list_append(if_not_exists(#list, :empty), :item)"
	}
	cond := "attribute_exists(id) AND #status = :from"
	if u.cond != "" {
		cond += " AND " + u.cond
	}
	for k, v := range u.names {
		names[k] = v
	}
	for k, v := range u.values {
		values[k] = v
	}
	av, err := attributevalue.MarshalMap(values)
	if err != nil {
		return Order{}, fmt.Errorf("%s order %s: marshal values: %w", op, id, err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.tables.Orders),
		Key:                       key(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: av,
		ReturnValues:              types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, gerr := s.Order(ctx, id)
		if gerr != nil {
			// Not found (or unreadable): the condition failed on existence.
			return Order{}, fmt.Errorf("%s order %s: %w", op, id, gerr)
		}
		return Order{}, &ConflictError{Op: op, Current: cur}
	}
	if err != nil {
		return Order{}, fmt.Errorf("%s order %s: %w", op, id, err)
	}
	var o Order
	if err := attributevalue.UnmarshalMap(out.Attributes, &o); err != nil {
		return Order{}, fmt.Errorf("%s order %s: unmarshal: %w", op, id, err)
	}
	return o, nil
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
}

// Restaurants lists every restaurant, sorted by id. The table is small
// (a catalogue), so a paginated scan is fine.
func (s *Store) Restaurants(ctx context.Context) ([]Restaurant, error) {
	var out []Restaurant
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(s.tables.Restaurants)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan restaurants: %w", err)
		}
		var rs []Restaurant
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &rs); err != nil {
			return nil, fmt.Errorf("unmarshal restaurants: %w", err)
		}
		out = append(out, rs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Restaurant reads one restaurant.
func (s *Store) Restaurant(ctx context.Context, id string) (Restaurant, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.tables.Restaurants),
		Key:       key(id),
	})
	if err != nil {
		return Restaurant{}, fmt.Errorf("get restaurant %s: %w", id, err)
	}
	if out.Item == nil {
		return Restaurant{}, fmt.Errorf("restaurant %s: %w", id, ErrNotFound)
	}
	var r Restaurant
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return Restaurant{}, fmt.Errorf("unmarshal restaurant %s: %w", id, err)
	}
	return r, nil
}

// PutRestaurant writes a restaurant unless one with its id exists, and
// reports whether it wrote. Seeding with it is idempotent.
func (s *Store) PutRestaurant(ctx context.Context, r Restaurant) (bool, error) {
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return false, fmt.Errorf("marshal restaurant %s: %w", r.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.tables.Restaurants),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("put restaurant %s: %w", r.ID, err)
	}
	return true, nil
}

// MaxPage bounds a listing's page.
const MaxPage = 100

// Cursor is where a listing stopped: the last order of a page, by its
// index position. The next page starts after it.
type Cursor struct {
	CreatedAt string
	ID        string
}

// Page is one page of a listing, newest first. Next is nil on the last
// page.
type Page struct {
	Orders []Order
	Next   *Cursor
}

// CustomerOrders lists the orders customerID placed, newest first, at
// most limit (1 to MaxPage), after the cursor when there is one. It reads
// the ByCustomer index, which is eventually consistent: an order placed a
// moment ago may not be listed yet.
func (s *Store) CustomerOrders(ctx context.Context, customerID string, limit int, after *Cursor) (Page, error) {
	return s.list(ctx, ByCustomer, "customerId", customerID, limit, after)
}

// RestaurantOrders lists the orders of restaurantID, newest first, as
// CustomerOrders does, through the ByRestaurant index.
func (s *Store) RestaurantOrders(ctx context.Context, restaurantID string, limit int, after *Cursor) (Page, error) {
	return s.list(ctx, ByRestaurant, "restaurantId", restaurantID, limit, after)
}

// list queries one partition of an index, newest first. It asks for one
// order more than the page holds, so that a page that ends the listing
// says so (no Next) instead of leading to an empty page.
func (s *Store) list(ctx context.Context, index, attr, value string, limit int, after *Cursor) (Page, error) {
	if limit < 1 || limit > MaxPage {
		return Page{}, fmt.Errorf("list %s: limit %d is not within 1 to %d", index, limit, MaxPage)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Orders),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: value}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if after != nil {
		// The partition comes from the caller, never from the cursor: a
		// cursor only says where to start within it.
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"id":        &types.AttributeValueMemberS{Value: after.ID},
			attr:        &types.AttributeValueMemberS{Value: value},
			"createdAt": &types.AttributeValueMemberS{Value: after.CreatedAt},
		}
	}
	var page Page
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Page{}, fmt.Errorf("list %s %s: %w", index, value, err)
		}
		var got []Order
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &got); err != nil {
			return Page{}, fmt.Errorf("list %s %s: unmarshal: %w", index, value, err)
		}
		page.Orders = append(page.Orders, got...)
		if len(page.Orders) > limit {
			page.Orders = page.Orders[:limit]
			last := page.Orders[limit-1]
			page.Next = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
			return page, nil
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		// A page of the query ended early (its 1 MB limit): read on.
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(int32(limit + 1 - len(page.Orders)))
	}
}
