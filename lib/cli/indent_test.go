package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The pretty-printer only adds whitespace.
func TestIndentJSON(t *testing.T) {
	raw := `{"a":[1,"x,]\"y",{"b":[]}],"c":{},"d":[],"e":{"f":["g"]},"long":["aaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbb","cccccccccccccccccccc"]}`
	got, err := indentJSON([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(got)); err != nil {
		t.Fatalf("%v:\n%s", err, got)
	}
	if compact.String() != raw {
		t.Fatalf("compacted %s, want %s", compact.String(), raw)
	}
	if !strings.Contains(got, `"f": ["g"]`) || !strings.Contains(got, "\"c\": {},") || !strings.Contains(got, `"a": [1, "x,]\"y", {"b": []}],`) ||
		!strings.Contains(got, "\"long\": [\n    \"aaaaaaaaaaaaaaaaaaaa\",\n") {
		t.Errorf("layout:\n%s", got)
	}
}
