package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/gateway/orders/orderstest"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// api is the real schema over real HTTP, on tables of its own.
type api struct {
	store *orders.Store
	srv   *httptest.Server
}

// claimsHeader carries, in these tests only, the claims of the caller as
// API Gateway's JWT authorizer would hand them over (a JSON object); the
// handler's Context hook makes them the request's identity, as
// HandleAPIGateway does. The end-to-end tests (tests/) send real tokens.
const claimsHeader = "X-Test-Claims"

// Callers of the tests, as their tokens' claims.
var (
	alice  = map[string]string{"sub": "alice"}
	bob    = map[string]string{"sub": "bob"}
	pat    = map[string]string{"sub": "pat", "cognito:groups": "[restaurant]", "custom:restaurantId": "r-pizza"}
	sam    = map[string]string{"sub": "sam", "cognito:groups": "[restaurant]", "custom:restaurantId": "r-sushi"}
	eve    = map[string]string{"sub": "eve", "cognito:groups": "[restaurant]"}    // staff of no restaurant
	mallet = map[string]string{"sub": "mallet", "custom:restaurantId": "r-pizza"} // a restaurant but not the group
	nobody map[string]string                                                      // no token at all
)

func asCaller(ctx context.Context, r *http.Request) context.Context {
	h := r.Header.Get(claimsHeader)
	if h == "" {
		return ctx
	}
	var claims map[string]string
	if err := json.Unmarshal([]byte(h), &claims); err != nil {
		panic("bad test claims: " + h)
	}
	id := identity.FromClaims(claims)
	return correlation.WithSubject(identity.With(ctx, id), id.Subject)
}

func newAPI(t *testing.T, limits graphqlhttp.Limits, cfg graphqlhttp.Config) *api {
	t.Helper()
	s := orderstest.NewStore(t, dynamodb.NewFromConfig(emulatortest.Config(t)))
	s.Now = func() time.Time { return fixedNow }
	log := slog.New(slog.DiscardHandler)
	schema, err := gateway.NewSchema(gateway.Deps{Store: s, Logger: log}, limits)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits, cfg.Logger, cfg.Context = limits, log, asCaller
	h, err := graphqlhttp.New(schema, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{store: s, srv: srv}
}

// post sends a GraphQL request as alice and returns the status and body.
func (a *api) post(t *testing.T, body string, header ...string) (int, []byte) {
	t.Helper()
	return a.postAs(t, alice, body, header...)
}

// postAs sends a GraphQL request as the caller with these claims (none:
// nil) and returns the status and body.
func (a *api) postAs(t *testing.T, claims map[string]string, body string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if claims != nil {
		b, _ := json.Marshal(claims)
		req.Header.Set(claimsHeader, string(b))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a *api) gql(t *testing.T, query string, vars map[string]any) []byte {
	t.Helper()
	return a.gqlAs(t, alice, query, vars)
}

func (a *api) gqlAs(t *testing.T, claims map[string]string, query string, vars map[string]any) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_, b := a.postAs(t, claims, string(body))
	return b
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("response\n  %s\nwant\n  %s", got, want)
	}
}

const orderFields = `status restaurantId items { menuItemId quantity } totalCents payments { id amountCents } paymentIntent { amountCents } driverId reason createdAt updatedAt`

func TestGraphQL(t *testing.T) {
	ctx := context.Background()
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	placed, err := a.store.Place(ctx, orders.Order{ID: "ord_placed", CustomerID: "alice", RestaurantID: "r-pizza", Items: []orders.Item{{MenuItemID: "diavola", Quantity: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ord_valid", "ord_paying"} {
		if _, err := a.store.Place(ctx, orders.Order{ID: id, CustomerID: "alice", RestaurantID: "r-sushi", Items: []orders.Item{{MenuItemID: "miso-soup", Quantity: 2}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.store.Validate(ctx, id, 600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.store.RecordIntent(ctx, "ord_paying", orders.PaymentIntent{ID: "pi_fixed", AmountCents: 600}); err != nil {
		t.Fatal(err)
	}
	many := make([]any, orders.MaxLines+1)
	for i := range many {
		many[i] = map[string]any{"menuItemId": "margherita", "quantity": 1}
	}

	tests := []struct {
		name  string
		query string
		vars  map[string]any
		want  string
	}{
		{
			name:  "restaurants",
			query: `{ restaurants { id name menu { id name priceCents } } }`,
			want: `{"data":{"restaurants":[
				{"id":"r-pizza","name":"Pizza Palace","menu":[
					{"id":"margherita","name":"Margherita","priceCents":900},
					{"id":"diavola","name":"Diavola","priceCents":1100},
					{"id":"tiramisu","name":"Tiramisu","priceCents":550}]},
				{"id":"r-sushi","name":"Sushi Bar","menu":[
					{"id":"salmon-nigiri","name":"Salmon nigiri (2)","priceCents":480},
					{"id":"california-roll","name":"California roll","priceCents":720},
					{"id":"miso-soup","name":"Miso soup","priceCents":300}]}]}}`,
		},
		{
			name:  "order by id",
			query: `query($id: ID!) { order(id: $id) { id ` + orderFields + ` } }`,
			vars:  map[string]any{"id": placed.ID},
			want: `{"data":{"order":{"id":"ord_placed","status":"PLACED","restaurantId":"r-pizza",
				"items":[{"menuItemId":"diavola","quantity":3}],"totalCents":0,"payments":[],"paymentIntent":null,
				"driverId":null,"reason":null,"createdAt":"2026-01-02T03:04:05.000000000Z","updatedAt":"2026-01-02T03:04:05.000000000Z"}}}`,
		},
		{
			name:  "empty order id",
			query: `{ order(id: "") { id } }`,
			want:  `{"errors":[{"message":"id must not be empty","path":["order"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":{"order":null}}`,
		},
		{
			name:  "empty order id to pay",
			query: `mutation { payOrder(input: {orderId: "", amountCents: 100}) { id } }`,
			want:  `{"errors":[{"message":"orderId must not be empty","path":["payOrder"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`,
		},
		{
			name:  "amount variable out of Int range",
			query: `mutation($n: Int!) { payOrder(input: {orderId: "ord_valid", amountCents: $n}) { id } }`,
			vars:  map[string]any{"n": 2147483648},
			want:  `{"errors":[{"message":"Variable \"$n\" got invalid value 2147483648; Int cannot represent non 32-bit signed integer value: 2147483648","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]}`,
		},
		{
			name:  "quantity variable not integral",
			query: `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { id } }`,
			vars:  map[string]any{"in": map[string]any{"restaurantId": "r-pizza", "items": []any{map[string]any{"menuItemId": "margherita", "quantity": 1.5}}}},
			want:  `{"errors":[{"message":"Variable \"$in\" got invalid value 1.5 at \"in.items[0].quantity\"; Int cannot represent non-integer value: 1.5","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]}`,
		},
		{
			name:  "unknown order is null",
			query: `{ order(id: "ord_nope") { id } }`,
			want:  `{"data":{"order":null}}`,
		},
		{
			name:  "overlong order id is null",
			query: `query($id: ID!) { order(id: $id) { id } }`,
			vars:  map[string]any{"id": strings.Repeat("x", 200)},
			want:  `{"data":{"order":null}}`,
		},
		{
			name:  "place order",
			query: `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { ` + orderFields + ` } }`,
			vars:  map[string]any{"in": map[string]any{"restaurantId": "r-sushi", "items": []any{map[string]any{"menuItemId": "california-roll", "quantity": 2}, map[string]any{"menuItemId": "miso-soup", "quantity": 1}}}},
			want: `{"data":{"placeOrder":{"status":"PLACED","restaurantId":"r-sushi",
				"items":[{"menuItemId":"california-roll","quantity":2},{"menuItemId":"miso-soup","quantity":1}],
				"totalCents":0,"payments":[],"paymentIntent":null,"driverId":null,"reason":null,
				"createdAt":"2026-01-02T03:04:05.000000000Z","updatedAt":"2026-01-02T03:04:05.000000000Z"}}}`,
		},
		{
			name:  "place order with an unknown dish is accepted (validation rejects it later)",
			query: `mutation { placeOrder(input: {restaurantId: "r-pizza", items: [{menuItemId: "sushi", quantity: 99}]}) { status items { menuItemId quantity } } }`,
			want:  `{"data":{"placeOrder":{"status":"PLACED","items":[{"menuItemId":"sushi","quantity":99}]}}}`,
		},
		{
			name:  "unknown restaurant",
			query: `mutation { placeOrder(input: {restaurantId: "r-nope", items: [{menuItemId: "margherita", quantity: 1}]}) { id } }`,
			want:  `{"errors":[{"message":"restaurant \"r-nope\" not found","path":["placeOrder"],"extensions":{"code":"NOT_FOUND"}}],"data":null}`,
		},
		{
			name:  "empty items",
			query: `mutation { placeOrder(input: {restaurantId: "r-pizza", items: []}) { id } }`,
			want:  `{"errors":[{"message":"items must not be empty: an order needs at least one line","path":["placeOrder"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`,
		},
		{
			name:  "too many lines",
			query: `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { id } }`,
			vars:  map[string]any{"in": map[string]any{"restaurantId": "r-pizza", "items": many}},
			want:  `{"errors":[{"message":"an order has at most 50 lines, got 51","path":["placeOrder"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`,
		},
		{
			name:  "empty restaurant id",
			query: `mutation { placeOrder(input: {restaurantId: "", items: [{menuItemId: "margherita", quantity: 1}]}) { id } }`,
			want:  `{"errors":[{"message":"restaurantId must not be empty","path":["placeOrder"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`,
		},
		{
			name:  "wrong input type: quantity as a string",
			query: `mutation { placeOrder(input: {restaurantId: "r-pizza", items: [{menuItemId: "margherita", quantity: "two"}]}) { id } }`,
			want:  `{"errors":[{"message":"Int cannot represent non-integer value: \"two\"","locations":[{"line":1,"column":101}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
		},
		{
			name:  "wrong variable type",
			query: `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { id } }`,
			vars:  map[string]any{"in": map[string]any{"restaurantId": "r-pizza", "items": "margherita"}},
			want:  `{"errors":[{"message":"Variable \"$in\" got invalid value \"margherita\" at \"in.items\"; Expected type \"OrderItemInput\" to be an object.","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]}`,
		},
		{
			name:  "missing required field",
			query: `mutation { placeOrder(input: {restaurantId: "r-pizza"}) { id } }`,
			want:  `{"errors":[{"message":"Field \"PlaceOrderInput.items\" of required type \"[OrderItemInput!]!\" was not provided.","locations":[{"line":1,"column":30}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
		},
		{
			name:  "pay a PLACED order",
			query: `mutation { payOrder(input: {orderId: "ord_placed", amountCents: 3300}) { id } }`,
			want:  `{"errors":[{"message":"order \"ord_placed\" is PLACED: only a VALIDATED order can be paid","path":["payOrder"],"extensions":{"code":"FAILED_PRECONDITION"}}],"data":null}`,
		},
		{
			name:  "pay an unknown order",
			query: `mutation { payOrder(input: {orderId: "ord_nope", amountCents: 100}) { id } }`,
			want:  `{"errors":[{"message":"order \"ord_nope\" not found","path":["payOrder"],"extensions":{"code":"NOT_FOUND"}}],"data":null}`,
		},
		{
			name:  "pay a negative amount",
			query: `mutation { payOrder(input: {orderId: "ord_valid", amountCents: -5}) { id } }`,
			want:  `{"errors":[{"message":"amountCents must be positive, got -5","path":["payOrder"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`,
		},
		{
			name:  "pay a validated order",
			query: `mutation { payOrder(input: {orderId: "ord_valid", amountCents: 600}) { id status totalCents paymentIntent { amountCents } payments { id } } }`,
			want:  `{"data":{"payOrder":{"id":"ord_valid","status":"VALIDATED","totalCents":600,"paymentIntent":{"amountCents":600},"payments":[]}}}`,
		},
		{
			name:  "pay again with the same amount returns the recorded intent",
			query: `mutation { payOrder(input: {orderId: "ord_paying", amountCents: 600}) { id paymentIntent { id amountCents } } }`,
			want:  `{"data":{"payOrder":{"id":"ord_paying","paymentIntent":{"id":"pi_fixed","amountCents":600}}}}`,
		},
		{
			name:  "pay again with another amount",
			query: `mutation { payOrder(input: {orderId: "ord_paying", amountCents: 601}) { id } }`,
			want:  `{"errors":[{"message":"order \"ord_paying\" already has a payment of 600 cents","path":["payOrder"],"extensions":{"code":"FAILED_PRECONDITION"}}],"data":null}`,
		},
		{
			name:  "amount out of Int range",
			query: `mutation { payOrder(input: {orderId: "ord_valid", amountCents: 3000000000}) { id } }`,
			want:  `{"errors":[{"message":"Int cannot represent non 32-bit signed integer value: 3000000000","locations":[{"line":1,"column":64}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jsonEqual(t, a.gql(t, tt.query, tt.vars), tt.want)
		})
	}
}

// The order placed over HTTP carries the request's correlation id, which
// every change event of the order will carry, and belongs to the caller.
func TestPlaceOrderStoresCorrelationID(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{}, graphqlhttp.Config{})
	_, body := a.post(t, `{"query":"mutation { placeOrder(input: {restaurantId: \"r-pizza\", items: [{menuItemId: \"tiramisu\", quantity: 1}]}) { id } }"}`,
		"X-Correlation-Id", "corr-from-client")
	var resp struct {
		Data struct{ PlaceOrder struct{ ID string } }
	}
	if err := json.Unmarshal(body, &resp); err != nil || !strings.HasPrefix(resp.Data.PlaceOrder.ID, "ord_") {
		t.Fatalf("placeOrder: %s", body)
	}
	o, err := a.store.Order(context.Background(), resp.Data.PlaceOrder.ID)
	if err != nil || o.CorrelationID != "corr-from-client" || o.CustomerID != "alice" || o.CausedBy != "alice" {
		t.Fatalf("stored order %+v, %v: want correlation id corr-from-client, customer and cause alice", o, err)
	}
}

// Requests the HTTP layer refuses before any resolver runs.
func TestHTTPLimits(t *testing.T) {
	a := newAPI(t, graphqlhttp.Limits{MaxDepth: 2}, graphqlhttp.Config{AllowGET: true})
	tests := []struct {
		name   string
		do     func() (int, []byte)
		status int
		code   string
	}{
		{"deeper than the depth limit", func() (int, []byte) {
			return a.post(t, `{"query":"{ restaurants { menu { name } } }"}`)
		}, http.StatusOK, "QUERY_TOO_DEEP"},
		{"longer than the length limit", func() (int, []byte) {
			q := "{ restaurants { id } }" + strings.Repeat(" ", graphqlhttp.DefaultMaxQueryLength)
			b, _ := json.Marshal(map[string]string{"query": q})
			return a.post(t, string(b))
		}, http.StatusOK, "QUERY_TOO_LARGE"},
		{"malformed JSON", func() (int, []byte) {
			return a.post(t, `{"query": "{ restaurants { id } }"`)
		}, http.StatusBadRequest, "BAD_REQUEST"},
		{"mutation over GET", func() (int, []byte) {
			resp, err := http.Get(a.srv.URL + "?query=" + strings.ReplaceAll(`mutation{placeOrder(input:{restaurantId:"r-pizza",items:[{menuItemId:"margherita",quantity:1}]}){id}}`, " ", "%20"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"introspection off by default", func() (int, []byte) {
			return a.post(t, `{"query":"{ __schema { types { name } } }"}`)
		}, http.StatusOK, "INTROSPECTION_DISABLED"},
		{"within the limits", func() (int, []byte) {
			return a.post(t, `{"query":"{ restaurants { name } }"}`)
		}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.do()
			var resp struct {
				Errors []struct {
					Extensions struct{ Code string }
				}
				Data json.RawMessage
			}
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatalf("body is not JSON: %s", body)
			}
			code := ""
			if len(resp.Errors) > 0 {
				code = resp.Errors[0].Extensions.Code
			}
			if status != tt.status || code != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", status, code, tt.status, tt.code, body)
			}
			if tt.code == "" && !bytes.Contains(resp.Data, []byte("Pizza Palace")) {
				t.Fatalf("data %s", resp.Data)
			}
		})
	}
}
