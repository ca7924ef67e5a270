package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/topology"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func loadRecord(t testing.TB, name string) events.DynamoDBEventRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rec
}

func TestFromDynamoDBGolden(t *testing.T) {
	for _, name := range []string{"insert", "modify", "modify-noop", "remove"} {
		t.Run(name, func(t *testing.T) {
			ev, err := FromDynamoDB(loadRecord(t, name), "orders")
			if err != nil {
				t.Fatal(err)
			}
			detail, err := ev.Detail()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, detail, "", "  "); err != nil {
				t.Fatalf("detail is not valid JSON: %v\n%s", err, detail)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("detail differs from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
			}
		})
	}
}

func TestFromDynamoDBFields(t *testing.T) {
	tests := []struct {
		name        string
		op          topology.Operation
		changed     []string
		correlation string
		hasOld      bool
		hasNew      bool
		seq         string
		at          time.Time
	}{
		{"insert", topology.Insert,
			[]string{"address", "correlationId", "count", "id", "items", "note", "paid", "quantities", "signature", "status", "tags", "thumbs", "tiny", "total"},
			"req-4f1c", false, true, "111100000000000000000001", time.Unix(1732406400, 0)},
		// total 25.50 -> 25.5 and the reordered set are the same values;
		// the nested zip change counts against the top-level "address".
		{"modify", topology.Modify,
			[]string{"address", "correlationId", "coupon", "paymentIntent", "status"},
			"req-9a7e", true, true, "111100000000000000000002", time.Unix(1732406460, 0)},
		{"modify-noop", topology.Modify, nil, "", true, true, "111100000000000000000004", time.Unix(1732406580, 0)},
		{"remove", topology.Remove, []string{"correlationId", "pk", "sk", "state"}, "req-0b2d", true, false, "111100000000000000000003", time.Unix(1732406520, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := loadRecord(t, tt.name)
			ev, err := FromDynamoDB(rec, "orders")
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != rec.EventID || ev.Table != "orders" || ev.Operation != tt.op {
				t.Errorf("id/table/op = %s/%s/%s", ev.ID, ev.Table, ev.Operation)
			}
			if !reflect.DeepEqual(ev.Changed, tt.changed) {
				t.Errorf("changed = %q, want %q", ev.Changed, tt.changed)
			}
			if ev.CorrelationID != tt.correlation {
				t.Errorf("correlation = %q, want %q", ev.CorrelationID, tt.correlation)
			}
			if (ev.Old != nil) != tt.hasOld || (ev.New != nil) != tt.hasNew {
				t.Errorf("old %v new %v, want %v %v", ev.Old != nil, ev.New != nil, tt.hasOld, tt.hasNew)
			}
			if ev.SequenceNumber != tt.seq || !ev.ApproximateAt.Equal(tt.at) {
				t.Errorf("seq/time = %s/%s", ev.SequenceNumber, ev.ApproximateAt)
			}
			for _, raw := range []json.RawMessage{ev.Keys, ev.Old, ev.New} {
				if raw != nil && !json.Valid(raw) {
					t.Errorf("invalid JSON: %s", raw)
				}
			}
		})
	}
}

// Numbers reach a handler with every digit: decoded with UseNumber or into
// json.Number, they are the strings DynamoDB sent.
func TestNumbersExact(t *testing.T) {
	ev, err := FromDynamoDB(loadRecord(t, "insert"), "orders")
	if err != nil {
		t.Fatal(err)
	}
	var item struct {
		Total      json.Number   `json:"total"`
		Tiny       json.Number   `json:"tiny"`
		Quantities []json.Number `json:"quantities"`
		Signature  []byte        `json:"signature"`
		Thumbs     [][]byte      `json:"thumbs"`
		Note       *string       `json:"note"`
		Items      []struct {
			Price  json.Number `json:"price"`
			Extras []any       `json:"extras"`
		} `json:"items"`
	}
	if err := json.Unmarshal(ev.New, &item); err != nil {
		t.Fatal(err)
	}
	if item.Total != "123456789012345678901234567890.5" || item.Tiny != "1E-130" {
		t.Errorf("total %s tiny %s", item.Total, item.Tiny)
	}
	if want := []json.Number{"1", "2.5", "99999999999999999999999999999999999999"}; !reflect.DeepEqual(item.Quantities, want) {
		t.Errorf("quantities %v", item.Quantities)
	}
	if !bytes.Equal(item.Signature, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("signature % x", item.Signature)
	}
	if !reflect.DeepEqual(item.Thumbs, [][]byte{{0, 1, 2}, {0xff}}) {
		t.Errorf("thumbs %v", item.Thumbs)
	}
	if item.Note != nil {
		t.Errorf("note %q, want null", *item.Note)
	}
	if item.Items[0].Price != "12.90" || !reflect.DeepEqual(item.Items[1].Extras, []any{nil, true, "ice"}) {
		t.Errorf("items %+v", item.Items)
	}
}

func TestRoundTripThroughEventBridge(t *testing.T) {
	for _, name := range []string{"insert", "modify", "modify-noop", "remove"} {
		t.Run(name, func(t *testing.T) {
			ev, err := FromDynamoDB(loadRecord(t, name), "orders")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []Event{ev, ev.Reduce()} {
				body := sqsBody(t, e)
				got, err := FromEventBridge(body)
				if err != nil {
					t.Fatal(err)
				}
				assertSameEvent(t, got, e)
			}
		})
	}
}

// sqsBody wraps an event the way an EventBridge rule delivers it to SQS
// (here without "account", as moto does).
func sqsBody(t testing.TB, e Event) string {
	t.Helper()
	detail, err := e.Detail()
	if err != nil {
		t.Fatal(err)
	}
	return `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Change","source":"fooddelivery.changes","time":"2024-11-24T00:00:00Z","region":"us-east-1","resources":[],"detail":` + string(detail) + `}`
}

func assertSameEvent(t *testing.T, got, want Event) {
	t.Helper()
	if !got.ApproximateAt.Equal(want.ApproximateAt) {
		t.Errorf("time %s, want %s", got.ApproximateAt, want.ApproximateAt)
	}
	got.ApproximateAt, want.ApproximateAt = time.Time{}, time.Time{}
	for _, p := range []*json.RawMessage{&got.Keys, &got.Old, &got.New, &want.Keys, &want.Old, &want.New} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestReduce(t *testing.T) {
	ev, err := FromDynamoDB(loadRecord(t, "modify"), "orders")
	if err != nil {
		t.Fatal(err)
	}
	r := ev.Reduce()
	if r.Old != nil || r.New != nil || !r.Reduced {
		t.Fatalf("reduced event keeps images: %+v", r)
	}
	if r.ID != ev.ID || r.Table != ev.Table || r.Operation != ev.Operation || !bytes.Equal(r.Keys, ev.Keys) ||
		!reflect.DeepEqual(r.Changed, ev.Changed) || r.SequenceNumber != ev.SequenceNumber ||
		!r.ApproximateAt.Equal(ev.ApproximateAt) || r.CorrelationID != ev.CorrelationID {
		t.Errorf("reduced event lost a field:\n%+v\n%+v", r, ev)
	}
	if ev.Reduced || ev.New == nil {
		t.Error("Reduce changed its receiver")
	}
	d, err := r.Detail()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(d), `"old"`) || strings.Contains(string(d), `"new"`) || !strings.Contains(string(d), `"reduced":true`) {
		t.Errorf("reduced detail: %s", d)
	}
}

func TestFromDynamoDBErrors(t *testing.T) {
	good := func() events.DynamoDBEventRecord { return loadRecord(t, "insert") }
	tests := []struct {
		name  string
		rec   func() events.DynamoDBEventRecord
		table string
		want  string
	}{
		{"unknown event name", func() events.DynamoDBEventRecord { r := good(); r.EventName = "UPSERT"; return r }, "orders", `unknown event name "UPSERT"`},
		{"no event id", func() events.DynamoDBEventRecord { r := good(); r.EventID = ""; return r }, "orders", "without eventID"},
		{"no table", good, "", "no table name"},
		{"no keys", func() events.DynamoDBEventRecord { r := good(); r.Change.Keys = nil; return r }, "orders", "no keys"},
		{"bad number", func() events.DynamoDBEventRecord {
			r := good()
			r.Change.NewImage = map[string]events.DynamoDBAttributeValue{"n": events.NewNumberAttribute("12abc")}
			return r
		}, "orders", `new image: n: invalid number "12abc"`},
		{"zero attribute value", func() events.DynamoDBEventRecord {
			r := good()
			r.Change.NewImage = map[string]events.DynamoDBAttributeValue{"x": {}}
			return r
		}, "orders", "malformed attribute value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromDynamoDB(tt.rec(), tt.table)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFromEventBridgeErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "  ", "empty body"},
		{"not an object", `["x"]`, "not a JSON object"},
		{"truncated", `{"detail-type":"Change","detail":{"id":`, "unexpected end"},
		{"other detail type", `{"id":"e1","detail-type":"OrderPlaced","source":"shop","detail":{}}`, `detail-type "OrderPlaced"`},
		{"no detail", `{"id":"e1","detail-type":"Change","source":"s"}`, "has no detail"},
		{"null detail", `{"id":"e1","detail-type":"Change","source":"s","detail":null}`, "has no detail"},
		{"detail without id", `{"id":"e1","detail-type":"Change","detail":{"table":"orders"}}`, "detail has no id"},
		{"no table", `{"id":"e1","detail-type":"Change","detail":{"id":"x","operation":"INSERT","keys":{"id":"1"}}}`, "has no table"},
		{"no keys", `{"id":"e1","detail-type":"Change","detail":{"id":"x","table":"orders","operation":"INSERT"}}`, "no keys object"},
		{"bad operation", `{"id":"e1","detail-type":"Change","detail":{"id":"x","table":"orders","operation":"UPSERT","keys":{"id":"1"}}}`, `operation "UPSERT"`},
		{"wrong field type", `{"id":"e1","detail-type":"Change","detail":{"id":7}}`, "detail.id: want a string, found a number at offset 49"},
		{"not JSON", `not json`, "not a JSON object"},
		{"trailing data", `{"id":"e1","detail-type":"Change","detail":{}} {}`, "invalid character '{' after top-level value"},
		{"unterminated string", `{"id":"e1`, "unexpected end of JSON input"},
		{"control character in string", "{\"id\":\"e\n1\"}", `invalid character '\n' in string literal`},
		{"bad escape", `{"id":"e\q"}`, "in string escape code"},
		{"bad unicode escape", `{"id":"e\u12G4"}`, "hexadecimal character escape"},
		{"bad number in an image", `{"id":"e1","detail-type":"Change","detail":{"new":{"total":01}}}`, "after object key:value pair"},
		{"bad literal", `{"id":"e1","detail-type":"Change","resources":[tru]}`, "in literal true"},
		{"missing colon", `{"id" "e1"}`, "after object key"},
		{"missing comma", `{"id":"e1" "detail-type":"Change"}`, "after object key:value pair"},
		{"unquoted key", `{id:"e1"}`, "looking for beginning of object key string"},
		{"image not an object", `{"id":"e1","detail-type":"Change","detail":{"id":"x","new":"PAID"}}`, "detail.new: want an object, found a string"},
		{"keys not an object", `{"id":"e1","detail-type":"Change","detail":{"id":"x","keys":[1]}}`, "detail.keys: want an object, found an array"},
		{"changed not strings", `{"id":"e1","detail-type":"Change","detail":{"id":"x","changed":["a",2]}}`, "detail.changed: want an array of strings"},
		{"reduced not a boolean", `{"id":"e1","detail-type":"Change","detail":{"id":"x","reduced":"yes"}}`, "detail.reduced: want a boolean"},
		{"bad time", `{"id":"e1","detail-type":"Change","detail":{"id":"x","approximateCreationTime":"yesterday"}}`, "detail.approximateCreationTime"},
		{"detail not an object", `{"id":"e1","detail-type":"Change","detail":"x"}`, "detail: want an object, found a string"},
		{"too deep", `{"id":"e1","detail-type":"Change","resources":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEventBridge(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnewline\nreturn\r", "\x00\x01\x1f\x7f",
		"Zürich 東京 🍕", "bad utf8 \xff\xfe end", "truncated \xe6\x9d", "line\u2028sep\u2029",
		"<html>&amp;",
	} {
		got := appendString(nil, s)
		if !json.Valid(got) {
			t.Errorf("%q: invalid JSON %s", s, got)
			continue
		}
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		wb, _ := json.Marshal(s)
		_ = json.Unmarshal(wb, &want)
		if back != want {
			t.Errorf("%q: decodes to %q, encoding/json gives %q", s, back, want)
		}
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-12", "-12"}, {"1.5", "1.5"}, {"1E+10", "1E+10"}, {"-1.25e-7", "-1.25e-7"},
		{"123456789012345678901234567890.5", "123456789012345678901234567890.5"},
		{"+5", "5"}, {".5", "0.5"}, {"-.5", "-0.5"}, {"5.", "5"}, {"007", "7"}, {"00.10", "0.10"},
		{"", ""}, {"abc", ""}, {"1..2", ""}, {"1e", ""}, {"NaN", ""}, {"Infinity", ""}, {"-", ""},
	}
	for _, tt := range tests {
		got, err := appendNumber(nil, tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: accepted as %s", tt.in, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %s, %v, want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	n, s := events.NewNumberAttribute, events.NewStringAttribute
	m := func(kv ...any) events.DynamoDBAttributeValue {
		mm := map[string]events.DynamoDBAttributeValue{}
		for i := 0; i < len(kv); i += 2 {
			mm[kv[i].(string)] = kv[i+1].(events.DynamoDBAttributeValue)
		}
		return events.NewMapAttribute(mm)
	}
	l := func(v ...events.DynamoDBAttributeValue) events.DynamoDBAttributeValue {
		return events.NewListAttribute(v)
	}
	tests := []struct {
		name string
		a, b events.DynamoDBAttributeValue
		want bool
	}{
		{"same string", s("a"), s("a"), true},
		{"different string", s("a"), s("b"), false},
		{"string vs number", s("1"), n("1"), false},
		{"number spellings", n("1.50"), n("1.5"), true},
		{"number exponent", n("1e2"), n("100"), true},
		{"number zeros", n("007.100"), n("7.1"), true},
		{"negative zero", n("-0"), n("0.00"), true},
		{"sign matters", n("-1.5"), n("1.5"), false},
		{"fraction vs integer", n("10"), n("1.0"), false},
		{"leading dot", n(".5"), n("0.50"), true},
		{"big numbers differ in last digit", n("123456789012345678901234567890.5"), n("123456789012345678901234567890.4"), false},
		{"sets ignore order", events.NewStringSetAttribute([]string{"a", "b"}), events.NewStringSetAttribute([]string{"b", "a"}), true},
		{"sets differ", events.NewStringSetAttribute([]string{"a", "b"}), events.NewStringSetAttribute([]string{"a", "c"}), false},
		{"number sets by value", events.NewNumberSetAttribute([]string{"1", "2.0"}), events.NewNumberSetAttribute([]string{"2", "1"}), true},
		{"lists keep order", l(s("a"), s("b")), l(s("b"), s("a")), false},
		{"lists equal", l(s("a"), n("1")), l(s("a"), n("1.0")), true},
		{"maps", m("x", s("1"), "y", l()), m("y", l(), "x", s("1")), true},
		{"maps differ", m("x", s("1")), m("x", s("1"), "y", s("2")), false},
		{"nulls", events.NewNullAttribute(), events.NewNullAttribute(), true},
		{"bools", events.NewBooleanAttribute(true), events.NewBooleanAttribute(false), false},
		{"binary", events.NewBinaryAttribute([]byte{1}), events.NewBinaryAttribute([]byte{1}), true},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v", tt.name, got)
		}
		if got := Equal(tt.b, tt.a); got != tt.want {
			t.Errorf("%s (swapped): Equal = %v", tt.name, got)
		}
	}
}

func TestDecodeTyped(t *testing.T) {
	ev, err := FromDynamoDB(loadRecord(t, "modify"), "orders")
	if err != nil {
		t.Fatal(err)
	}
	type order struct {
		ID     string      `json:"id"`
		Status string      `json:"status"`
		Total  json.Number `json:"total"`
	}
	c, err := Decode[order](ev)
	if err != nil {
		t.Fatal(err)
	}
	if c.OldItem.Status != "PLACED" || c.NewItem.Status != "VALIDATED" || c.NewItem.Total != "25.5" {
		t.Errorf("decoded %+v %+v", c.OldItem, c.NewItem)
	}
}

func BenchmarkFromDynamoDB(b *testing.B) {
	rec := loadRecord(b, "insert")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromDynamoDB(rec, "orders"); err != nil {
			b.Fatal(err)
		}
	}
}

// Detail is written by hand; it must say what encoding/json would.
func TestDetailMatchesEncodingJSON(t *testing.T) {
	var evs []Event
	for _, name := range []string{"insert", "modify", "modify-noop", "remove"} {
		ev, err := FromDynamoDB(loadRecord(t, name), "orders")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev, ev.Reduce())
	}
	evs = append(evs, Event{ID: "<&>\u2028\"", Table: "t\x01", Operation: "INSERT", Keys: json.RawMessage(`{ "id" : "a" }`),
		ApproximateAt: time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.FixedZone("x", 3600))}, Event{ID: "nokeys"})
	for _, ev := range evs {
		got, err := ev.Detail()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v\n%s", ev.ID, err, got)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\ngot  %s\nwant %s", ev.ID, got, want)
		}
	}
	if _, err := (Event{ID: "x", Keys: json.RawMessage(`{"id":`)}).Detail(); err == nil || !strings.Contains(err.Error(), "keys is not valid JSON") {
		t.Errorf("invalid keys: %v", err)
	}
	if _, err := (Event{ID: "x", Keys: json.RawMessage(`{}`), ApproximateAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).Detail(); err == nil {
		t.Error("year 10000 accepted")
	}
}

// The subject who caused a change travels with it like the correlation
// id: from the new image (or the old one, for a removal) into the event,
// its detail and back, and through Reduce.
func TestCausedBy(t *testing.T) {
	for _, tt := range []struct {
		record string
		image  func(*events.DynamoDBEventRecord) map[string]events.DynamoDBAttributeValue
	}{
		{"modify", func(r *events.DynamoDBEventRecord) map[string]events.DynamoDBAttributeValue { return r.Change.NewImage }},
		{"remove", func(r *events.DynamoDBEventRecord) map[string]events.DynamoDBAttributeValue { return r.Change.OldImage }},
	} {
		t.Run(tt.record, func(t *testing.T) {
			rec := loadRecord(t, tt.record)
			if ev, _ := FromDynamoDB(rec, "orders"); ev.CausedBy != "" {
				t.Fatalf("causedBy %q from an item that records none", ev.CausedBy)
			}
			tt.image(&rec)[correlation.SubjectAttribute] = events.NewStringAttribute("alice")
			ev, err := FromDynamoDB(rec, "orders")
			if err != nil || ev.CausedBy != "alice" {
				t.Fatalf("causedBy %q, %v", ev.CausedBy, err)
			}
			for _, e := range []Event{ev, ev.Reduce()} {
				d, err := e.Detail()
				if err != nil {
					t.Fatal(err)
				}
				back, err := FromEventBridge(`{"id":"x","detail-type":"` + topology.DetailType + `","source":"s","detail":` + string(d) + `}`)
				if err != nil || back.CausedBy != "alice" || back.CorrelationID != ev.CorrelationID {
					t.Fatalf("through the detail %s: %+v, %v", d, back, err)
				}
			}
		})
	}
}
