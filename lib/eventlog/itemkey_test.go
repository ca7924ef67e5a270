package eventlog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

var keyTopo = topology.Topology{
	App: "keys",
	Tables: []topology.Table{
		{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}},
		{Name: "lines", PartitionKey: topology.Key{Name: "orderId", Type: topology.String}, SortKey: &topology.Key{Name: "lineNo", Type: topology.Number}},
		{Name: "blobs", PartitionKey: topology.Key{Name: "key", Type: topology.Binary}},
		{Name: "scores", PartitionKey: topology.Key{Name: "n", Type: topology.Number}},
	},
}

func TestParseItemKey(t *testing.T) {
	tests := []struct {
		in   string
		want ItemKey
		text string // the canonical text form
	}{
		{"orders/ord_1", ItemKey{"orders", "ord_1", ""}, "orders/ord_1"},
		{"orders/a%2Fb", ItemKey{"orders", "a/b", ""}, "orders/a%2Fb"},
		{"orders/a%2fb%25", ItemKey{"orders", "a/b%", ""}, "orders/a%2Fb%25"},
		{"orders/caf%C3%A9 au lait", ItemKey{"orders", "café au lait", ""}, "orders/café au lait"},
		{"lines/ord_1/3", ItemKey{"lines", "ord_1", "3"}, "lines/ord_1/3"},
		{"lines/ord_1/3.00", ItemKey{"lines", "ord_1", "3"}, "lines/ord_1/3"},
		{"lines/ord_1/+3e0", ItemKey{"lines", "ord_1", "3"}, "lines/ord_1/3"},
		{"lines/ord_1/0.03E2", ItemKey{"lines", "ord_1", "3"}, "lines/ord_1/3"},
		{"scores/-0", ItemKey{"scores", "0", ""}, "scores/0"},
		{"scores/1e3", ItemKey{"scores", "1000", ""}, "scores/1000"},
		{"scores/-12.5e-3", ItemKey{"scores", "-0.0125", ""}, "scores/-0.0125"},
		{"scores/0012.50", ItemKey{"scores", "12.5", ""}, "scores/12.5"},
		{"scores/" + strings.Repeat("9", 38), ItemKey{"scores", strings.Repeat("9", 38), ""}, "scores/" + strings.Repeat("9", 38)},
		{"blobs/-_8", ItemKey{"blobs", "-_8", ""}, "blobs/-_8"},
		{"blobs/+%2F8=", ItemKey{"blobs", "-_8", ""}, "blobs/-_8"},
		{"idempotency/fn#ev", ItemKey{"idempotency", "fn#ev", ""}, "idempotency/fn#ev"},
	}
	for _, tc := range tests {
		got, err := ParseItemKey(keyTopo, tc.in)
		if err != nil {
			t.Errorf("ParseItemKey(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want || got.String() != tc.text {
			t.Errorf("ParseItemKey(%q) = %#v (%s), want %#v (%s)", tc.in, got, got, tc.want, tc.text)
		}
		again, err := ParseItemKey(keyTopo, got.String())
		if err != nil || again != got {
			t.Errorf("the text form %q does not parse back: %#v, %v", got, again, err)
		}
	}
}

func TestParseItemKeyErrors(t *testing.T) {
	for in, msg := range map[string]string{
		"":                  "want TABLE/KEY",
		"orders":            "want TABLE/KEY",
		"/ord_1":            "want TABLE/KEY",
		"orders/":           "empty key value",
		"nope/x":            `table "nope" is not declared`,
		"orders/a/b":        "want orders/ID",
		"lines/ord_1":       "want lines/ORDERID/LINENO",
		"lines/ord_1/x":     "is not a number",
		"lines/ord_1/1e999": "is not a number",
		"orders/a%2":        "bad escape",
		"orders/a%zz":       "bad escape",
		"orders/%FF":        "not UTF-8",
		"blobs/!!!":         "is not base64",
	} {
		_, err := ParseItemKey(keyTopo, in)
		if err == nil || !strings.Contains(err.Error(), msg) || errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("ParseItemKey(%q) = %v, want %s error with %q", in, err, errs.BadUserInput, msg)
		}
	}
}

func TestItemKeyOf(t *testing.T) {
	tests := []struct {
		table, keys string
		want        string
	}{
		{"orders", `{"id":"ord_1"}`, "orders/ord_1"},
		{"orders", `{"id":"a/b"}`, "orders/a%2Fb"},
		{"lines", `{"lineNo":3,"orderId":"ord_1"}`, "lines/ord_1/3"},
		{"lines", `{"orderId":"ord_1","lineNo":1.50E1}`, "lines/ord_1/15"},
		{"lines", `{"orderId":"ord_1","lineNo":"7"}`, "lines/ord_1/7"},
		{"blobs", `{"key":"+/8="}`, "blobs/-_8"},
		{"scores", `{"n":123456789012345678901234567890}`, "scores/123456789012345678901234567890"},
	}
	for _, tc := range tests {
		k, err := ItemKeyOf(keyTopo, change.Event{Table: tc.table, Keys: json.RawMessage(tc.keys)})
		if err != nil || k.String() != tc.want {
			t.Errorf("ItemKeyOf(%s %s) = %s, %v; want %s", tc.table, tc.keys, k, err, tc.want)
			continue
		}
		parsed, err := ParseItemKey(keyTopo, tc.want)
		if err != nil || parsed != k {
			t.Errorf("%s: the event's key %#v and the typed key %#v differ (%v)", tc.want, k, parsed, err)
		}
	}
	for _, tc := range []struct{ table, keys string }{
		{"orders", `{"other":"x"}`},
		{"orders", `{"id":5}`},
		{"orders", `{"id":""}`},
		{"orders", `[1]`},
		{"lines", `{"orderId":"o"}`},
		{"lines", `{"orderId":"o","lineNo":true}`},
		{"unknown", `{"id":"x"}`},
	} {
		if _, err := ItemKeyOf(keyTopo, change.Event{Table: tc.table, Keys: json.RawMessage(tc.keys)}); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("ItemKeyOf(%s %s): %v, want %s", tc.table, tc.keys, err, errs.BadUserInput)
		}
	}
}

func TestItemKeyJSON(t *testing.T) {
	k := ItemKey{Table: "lines", Partition: "a/b", Sort: "3"}
	b, err := json.Marshal(struct {
		Item ItemKey `json:"item"`
	}{k})
	if err != nil || string(b) != `{"item":"lines/a%2Fb/3"}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var back struct {
		Item ItemKey `json:"item"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Item != k {
		t.Fatalf("unmarshal: %#v, %v", back.Item, err)
	}
}

func FuzzItemKeyText(f *testing.F) {
	for _, s := range []string{"ord_1", "a/b", "%", "é", "\x00\n", "3.5"} {
		f.Add(s, "")
		f.Add(s, "x/y")
	}
	f.Fuzz(func(t *testing.T, pk, sk string) {
		if pk == "" {
			return
		}
		k := ItemKey{Table: "t", Partition: pk, Sort: sk}
		var back ItemKey
		if err := back.UnmarshalText([]byte(k.String())); err != nil || back != k {
			t.Fatalf("%#v -> %q -> %#v, %v", k, k.String(), back, err)
		}
	})
}

func TestSeqKey(t *testing.T) {
	seqs := []string{"5", "999999999999999999999", "1000000000000000000000", "0001000000000000000000001", strings.Repeat("9", 40)}
	prev := ""
	for _, s := range seqs {
		k, err := seqKey(s)
		if err != nil || len(k) != 40 {
			t.Fatalf("seqKey(%s) = %q, %v", s, k, err)
		}
		if k <= prev {
			t.Fatalf("seqKey(%s) = %s sorts before %s", s, k, prev)
		}
		prev = k
	}
	for _, s := range []string{"", "12a", "-1", strings.Repeat("9", 41)} {
		if _, err := seqKey(s); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("seqKey(%q): %v", s, err)
		}
	}
}

func TestEpochStart(t *testing.T) {
	now := mustTime("2026-01-02T03:04:05Z")
	if got := epochStart(now, 0); got != Position(now.UnixMicro()) {
		t.Fatalf("epochStart = %d", got)
	}
	// A clock behind the last position still moves forward.
	if got := epochStart(now, Position(now.UnixMicro())+10); got != Position(now.UnixMicro())+11 {
		t.Fatalf("epochStart behind = %d", got)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
