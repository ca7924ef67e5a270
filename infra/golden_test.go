package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"testing"
)

const goldenFile = "testdata/stack.golden.json"

// TestGoldenTemplate holds the synthesized dev and prod templates against
// testdata/stack.golden.json; `go test ./infra -update` rewrites it after
// an intended change, and the diff is the review of that change.
func TestGoldenTemplate(t *testing.T) {
	stacks := synthesize(t)
	got := map[string]any{}
	for stage, s := range stacks {
		// The external issuer variant differs from prod only where its
		// own tests look; holding it here too would double the file.
		if stage != externalIssuer {
			got[string(stage)] = normalise(s.raw)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantBytes, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run go test ./infra -update to create it)", err)
	}
	var want, have any
	if err := json.Unmarshal(wantBytes, &want); err != nil {
		t.Fatalf("%s: %v", goldenFile, err)
	}
	if err := json.Unmarshal(b, &have); err != nil {
		t.Fatal(err)
	}
	if diffs := diff("", want, have, nil); len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		for _, d := range diffs {
			t.Error(d)
		}
		t.Errorf("the template changed; if intended, run go test ./infra -update and review the diff of %s", goldenFile)
	}
}

var (
	assetKey  = regexp.MustCompile(`^[0-9a-f]{64}\.(zip|json)$`)
	assetHash = regexp.MustCompile(`[0-9a-f]{64}`)
)

// normalise replaces what changes with every build of the function code
// (asset hashes and the S3 keys made of them) with placeholders.
func normalise(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == "aws:asset:path" {
				out[k] = "<asset path>"
				continue
			}
			out[k] = normalise(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalise(x)
		}
		return out
	case string:
		if assetKey.MatchString(v) {
			return "<asset>." + v[65:]
		}
		return assetHash.ReplaceAllString(v, "<hash>")
	}
	return v
}

// diff lists the paths where want and have differ.
func diff(at string, want, have any, out []string) []string {
	wm, wok := want.(map[string]any)
	hm, hok := have.(map[string]any)
	if wok && hok {
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range hm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = diff(at+"/"+k, wm[k], hm[k], out)
		}
		return out
	}
	if !reflect.DeepEqual(want, have) {
		out = append(out, fmt.Sprintf("%s: golden %.200s, synthesized %.200s", at, jsonString(want), jsonString(have)))
	}
	return out
}
