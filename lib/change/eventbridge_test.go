package change

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceDecode is how the event was read before the one-pass decoder:
// encoding/json into the envelope's fields. FromEventBridge must agree
// with it on every well-formed change event.
func referenceDecode(t *testing.T, body string) Event {
	t.Helper()
	var env struct {
		DetailType string `json:"detail-type"`
		Detail     *Event `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("encoding/json rejects %s: %v", body, err)
	}
	if env.Detail == nil {
		t.Fatalf("no detail in %s", body)
	}
	e := *env.Detail
	// encoding/json keeps a null image as the text null; FromEventBridge
	// leaves it out (Decode treats both as no image).
	for _, p := range []*json.RawMessage{&e.Old, &e.New} {
		if string(*p) == "null" {
			*p = nil
		}
	}
	return e
}

func TestFromEventBridgeMatchesEncodingJSON(t *testing.T) {
	const detailTail = `"sequenceNumber":"1","approximateCreationTime":"2024-11-24T00:00:00.123456789Z"`
	bodies := map[string]string{
		"minimal": `{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"INSERT","keys":{"id":"o1"}}}`,
		"every field": `{"version":"0","id":"eb","detail-type":"Change","source":"app.changes","account":"123456789012",` +
			`"time":"2024-11-24T00:00:00Z","region":"us-east-1","resources":["arn:x"],"detail":{"id":"e1","table":"orders",` +
			`"operation":"MODIFY","keys":{"id":"o1"},"old":{"id":"o1","n":1.50,"tags":["a","b"],"m":{"x":null,"y":[true,false]}},` +
			`"new":{"id":"o1","n":-1.5e-7},"changed":["n","tags"],` + detailTail + `,"correlationId":"req-1","reduced":false}}`,
		"whitespace everywhere": " \n{ \"detail-type\" : \"Change\" ,\t\"detail\" :\r\n { \"id\" : \"e1\" , \"table\":\"orders\", " +
			"\"operation\" : \"REMOVE\" , \"keys\" : { \"id\" : \"o1\" } , \"old\" : { \"a\" : [ 1 , 2 ] } , \"changed\" : [ \"a\" ] } } \n",
		"members in another order": `{"detail":{"keys":{"id":"o1"},"operation":"INSERT","table":"orders","id":"e1","new":{}},"source":"s","detail-type":"Change"}`,
		"escapes and unicode": `{"detail-type":"Change","detail":{"id":"e\"1\\\/\b\f\n\r\t","table":"ord\u00e9rs","operation":"INSERT",` +
			`"keys":{"id":"\ud83c\udf55"},"new":{"s":"Zürich 東京 🍕 \u2028"},"changed":["\ud83c\udf55","a\u0000b"],` + detailTail + `,"correlationId":"\u0072eq"}}`,
		"lone and broken surrogates": `{"detail-type":"Change","detail":{"id":"a\ud800b","table":"\udc00","operation":"INSERT","keys":{},` +
			`"changed":["\ud800\u0041","\ud800\\u0041","x\ud83c"],"correlationId":"\ud83c\udf55\ud83c"}}`,
		"invalid UTF-8":          "{\"detail-type\":\"Change\",\"detail\":{\"id\":\"e\xff1\",\"table\":\"o\xe6\x9d\",\"operation\":\"INSERT\",\"keys\":{\"k\":\"\xc0\"}}}",
		"nulls":                  `{"id":null,"detail-type":"Change","source":null,"detail":{"id":"e1","table":"orders","operation":"MODIFY","keys":{"id":"o1"},"old":null,"new":null,"changed":null,"correlationId":null,"reduced":null,"approximateCreationTime":null}}`,
		"reduced":                `{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"MODIFY","keys":{"id":"o1"},"changed":[],"reduced":true}}`,
		"unknown detail members": `{"detail-type":"Change","detail":{"future":{"a":[{}]},"id":"e1","table":"orders","operation":"INSERT","keys":{"id":"o1"},"n":-0.0E+00}}`,
		"time with offset":       `{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"INSERT","keys":{"id":"o1"},"approximateCreationTime":"2024-11-24T01:30:00+01:30"}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			got, err := FromEventBridge(body)
			if err != nil {
				t.Fatal(err)
			}
			want := referenceDecode(t, body)
			if !got.ApproximateAt.Equal(want.ApproximateAt) {
				t.Errorf("time %s, want %s", got.ApproximateAt, want.ApproximateAt)
			}
			got.ApproximateAt = want.ApproximateAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FromEventBridge:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

// The images are the event's own: changing them changes nothing else.
func TestFromEventBridgeImagesAreCopies(t *testing.T) {
	body := `{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"MODIFY","keys":{"id":"o1"},"old":{"a":1},"new":{"a":2}}}`
	orig := strings.Clone(body)
	e, err := FromEventBridge(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []json.RawMessage{e.Keys, e.Old, e.New} {
		for i := range raw {
			raw[i] = 'x'
		}
	}
	if body != orig {
		t.Fatalf("changing the images changed the body: %s", body)
	}
	e.Keys = append(e.Keys, "more"...)
	if string(e.Old) != "xxxxxxx" {
		t.Fatalf("appending to keys overwrote the old image: %s", e.Old)
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`plain`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u6771`, `\ud83c\udf55`, `\ud83c`, `\ud83cx`, `\udf55\ud83c`,
		`\ud800\u0041`, `\ud83c\ud83c\udf55`, "Zürich", "\xff\xfe", "a\xe6\x9d", `\u0000`, `\u2028`,
	} {
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		sc := scanner{s: `"` + s + `"`}
		got, err := sc.str()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got != want {
			t.Errorf("%q: got %q, encoding/json %q", s, got, want)
		}
	}
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range validitySeeds {
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", s, got, want)
		}
	}
}

var validitySeeds = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-5`, `-`, `--1`, `1.5e3`, `true`, `tru`, `nul`, `null `,
	`{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `"\u12"`, `"\x"`, "\"a\tb\"", "\"\xff\"",
	`[[[[]]]]`, `{"a":{"b":{"c":[1,{"d":null}]}}}`, `1 2`, `{} {}`, "\u00a0{}", `{"a":"\ud800"}`, `[1e999]`, `-01`, `0.0e0`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validitySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", s, got, want)
		}
	})
}

// Whatever the body, FromEventBridge returns an error or an event; text
// that is not JSON is never accepted; an accepted event publishes and
// reads back as itself; and where encoding/json reads the same members
// (no duplicates, no names differing only in case) it reads the same.
func FuzzFromEventBridge(f *testing.F) {
	f.Add(`{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"INSERT","keys":{"id":"o1"}}}`)
	f.Add(`{"id":"eb","detail-type":"Change","detail":{"id":"e\u00e9","table":"t","operation":"MODIFY","keys":{"a":[1,2]},` +
		`"old":{"x":"\ud83c\udf55"},"new":null,"changed":["x"],"sequenceNumber":"9","approximateCreationTime":"2024-11-24T00:00:00Z","reduced":true}}`)
	f.Add(`{"detail-type":"Change","detail":{"id":"e1","table":"orders","operation":"REMOVE","keys":{"id":"o1"},"old":{"n":1e5}}} `)
	f.Add(`{"detail-type":"Change","detail":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		e, err := FromEventBridge(body)
		if err != nil {
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if !utf8.ValidString(e.ID) && strings.Contains(e.ID, "\xff") {
			t.Fatalf("id %q kept invalid UTF-8", e.ID)
		}
		if d, err := e.Detail(); err == nil && e.ApproximateAt.Year() >= 0 {
			back, err := FromEventBridge(`{"detail-type":"Change","detail":` + string(d) + `}`)
			if err != nil {
				t.Fatalf("detail %s of %q does not read back: %v", d, body, err)
			}
			if back.ID != e.ID || back.Table != e.Table || string(back.Keys) != string(e.Keys) ||
				string(back.Old) != string(e.Old) || string(back.New) != string(e.New) || !reflect.DeepEqual(back.Changed, e.Changed) ||
				!back.ApproximateAt.Equal(e.ApproximateAt) || back.Reduced != e.Reduced || back.CorrelationID != e.CorrelationID {
				t.Fatalf("round trip of %q:\n%#v\n%#v", body, back, e)
			}
		}
		if hasAmbiguousNames(body) {
			return
		}
		want := referenceDecode(t, body)
		got := e
		if !got.ApproximateAt.Equal(want.ApproximateAt) {
			t.Fatalf("%q: time %s, want %s", body, got.ApproximateAt, want.ApproximateAt)
		}
		got.ApproximateAt = want.ApproximateAt
		if len(want.Changed) == 0 && len(got.Changed) == 0 {
			got.Changed = want.Changed
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
		}
	})
}

// hasAmbiguousNames reports object members that encoding/json and
// FromEventBridge read differently by design: a name that matches a field
// only when case is ignored, and a name repeated within one object.
func hasAmbiguousNames(body string) bool {
	fields := []string{"id", "detail-type", "source", "detail", "table", "operation", "keys", "old", "new",
		"changed", "sequenceNumber", "approximateCreationTime", "correlationId", "reduced"}
	dec := json.NewDecoder(strings.NewReader(body))
	// One entry per open object or array: the names seen, nil for an array.
	var open []map[string]bool
	wantName := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if wantName {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				open = open[:len(open)-1]
				wantName = len(open) > 0 && open[len(open)-1] != nil
				continue
			}
			name := tok.(string)
			names := open[len(open)-1]
			if names[name] {
				return true
			}
			names[name] = true
			for _, f := range fields {
				if name != f && strings.EqualFold(name, f) {
					return true
				}
			}
			wantName = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, map[string]bool{})
			wantName = true
			continue
		case json.Delim('['):
			open = append(open, nil)
			continue
		case json.Delim(']'), json.Delim('}'):
			open = open[:len(open)-1]
		}
		// A value ended: an object wants its next name.
		wantName = len(open) > 0 && open[len(open)-1] != nil
	}
}
