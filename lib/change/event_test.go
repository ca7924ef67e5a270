package change

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type decodeItem struct {
	ID    string          `json:"id"`
	Total json.Number     `json:"total"`
	Tags  []string        `json:"tags"`
	Raw   json.RawMessage `json:"raw"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		wantOld  *decodeItem
		wantNew  *decodeItem
		err      string
	}{
		{name: "both images", old: `{"id":"o1","total":1.50,"tags":["a"],"raw":{"x":[1]}}`, new: `{"id":"o1","total":123456789012345678901234567890.5,"tags":[]}`,
			wantOld: &decodeItem{ID: "o1", Total: "1.50", Tags: []string{"a"}, Raw: json.RawMessage(`{"x":[1]}`)},
			wantNew: &decodeItem{ID: "o1", Total: "123456789012345678901234567890.5", Tags: []string{}}},
		{name: "insert", new: `{"id":"o1"}`, wantNew: &decodeItem{ID: "o1"}},
		{name: "remove", old: `{"id":"o1"}`, wantOld: &decodeItem{ID: "o1"}},
		{name: "null images", old: `null`, new: `null`},
		{name: "reduced", old: ``, new: ``},
		{name: "bad new image", old: `{"id":"o1"}`, new: `{"id":7}`, err: "event e1: new image: json: cannot unmarshal number"},
		{name: "bad old image", old: `{"id":[]}`, new: `{"id":"o1"}`, err: "event e1: old image: json: cannot unmarshal array"},
		{name: "image not an object", old: `{"id":"o1"}`, new: `"o1"`, err: "event e1: new image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{ID: "e1", Table: "orders", Operation: "MODIFY", Keys: json.RawMessage(`{"id":"o1"}`)}
			if tt.old != "" {
				e.Old = json.RawMessage(tt.old)
			}
			if tt.new != "" {
				e.New = json.RawMessage(tt.new)
			}
			c, err := Decode[decodeItem](e)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.OldItem, tt.wantOld) || !reflect.DeepEqual(c.NewItem, tt.wantNew) {
				t.Errorf("decoded old %+v new %+v, want %+v %+v", c.OldItem, c.NewItem, tt.wantOld, tt.wantNew)
			}
			if !reflect.DeepEqual(c.Event, e) {
				t.Errorf("event changed: %+v", c.Event)
			}
		})
	}
}

// Decodes running at once never see each other's images, and what they
// return stays theirs after the pooled buffer is reused.
func TestDecodeConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	results := make([]Change[decodeItem], 64)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := Event{ID: fmt.Sprint(i), Old: json.RawMessage(fmt.Sprintf(`{"id":"old-%d","raw":"%s"}`, i, strings.Repeat("x", i*100))),
				New: json.RawMessage(fmt.Sprintf(`{"id":"new-%d"}`, i))}
			c, err := Decode[decodeItem](e)
			if err != nil {
				t.Error(err)
			}
			results[i] = c
		}()
	}
	wg.Wait()
	for i, c := range results {
		if c.OldItem == nil || c.OldItem.ID != fmt.Sprint("old-", i) || c.NewItem.ID != fmt.Sprint("new-", i) ||
			string(c.OldItem.Raw) != `"`+strings.Repeat("x", i*100)+`"` {
			t.Fatalf("decode %d: old %+v new %+v", i, c.OldItem, c.NewItem)
		}
	}
}
