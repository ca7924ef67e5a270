package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Matches reports whether a change event, given as the detail JSON the
// router publishes, matches route r's EventBridge pattern the way the
// route's rule does: what replay and the local restore use to find the
// events a route was (or would have been) given, without asking
// EventBridge.
func (t Topology) Matches(r Route, detail []byte) (bool, error) {
	p, err := t.CompilePattern(r)
	if err != nil {
		return false, err
	}
	return p.MatchDetail(detail)
}

// Pattern is a route's EventBridge pattern, ready to match events.
type Pattern struct {
	source string
	tree   map[string]any
}

// CompilePattern is route r's pattern (EventPatternJSON), ready to match
// many events.
func (t Topology) CompilePattern(r Route) (*Pattern, error) {
	tree, err := decodeNumbers([]byte(t.EventPatternJSON(r)))
	if err != nil {
		return nil, fmt.Errorf("route %s: pattern: %w", r.Name, err)
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("route %s: pattern is not an object", r.Name)
	}
	return &Pattern{source: t.EventSource(), tree: m}, nil
}

// MatchDetail matches a change event's detail, in the envelope
// EventBridge gives it (the app's source, detail type Change).
func (p *Pattern) MatchDetail(detail []byte) (bool, error) {
	d, err := decodeNumbers(detail)
	if err != nil {
		return false, fmt.Errorf("event detail: %w", err)
	}
	return p.Match(map[string]any{"source": p.source, "detail-type": DetailType, "detail": d})
}

// Match matches a whole event, decoded from JSON with numbers as
// json.Number.
func (p *Pattern) Match(event map[string]any) (bool, error) {
	return matchObject(p.tree, event)
}

// MatchPattern reports whether the EventBridge event (its JSON) matches
// the pattern (its JSON). It implements EventBridge's content filtering
// for value lists and the prefix, suffix, equals-ignore-case,
// anything-but, exists, numeric and wildcard filters; a pattern using
// another (cidr) is an error rather than a guess.
func MatchPattern(pattern, event []byte) (bool, error) {
	pt, err := decodeNumbers(pattern)
	if err != nil {
		return false, fmt.Errorf("pattern: %w", err)
	}
	pm, ok := pt.(map[string]any)
	if !ok {
		return false, fmt.Errorf("pattern is not an object")
	}
	ev, err := decodeNumbers(event)
	if err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	em, _ := ev.(map[string]any)
	return matchObject(pm, em)
}

func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// matchObject matches every field of a pattern object against the event
// object ev (nil when the event has no object there: then only
// {"exists": false} leaves match).
func matchObject(pat map[string]any, ev map[string]any) (bool, error) {
	for k, pv := range pat {
		if k == "$or" {
			alts, ok := pv.([]any)
			if !ok {
				return false, fmt.Errorf("pattern: $or wants a list of patterns")
			}
			matched := false
			for _, a := range alts {
				am, ok := a.(map[string]any)
				if !ok {
					return false, fmt.Errorf("pattern: $or wants a list of patterns")
				}
				m, err := matchObject(am, ev)
				if err != nil {
					return false, err
				}
				if m {
					matched = true
					break
				}
			}
			if !matched {
				return false, nil
			}
			continue
		}
		v, present := ev[k]
		var (
			m   bool
			err error
		)
		switch p := pv.(type) {
		case map[string]any:
			sub, _ := v.(map[string]any)
			m, err = matchObject(p, sub)
		case []any:
			m, err = matchLeaf(v, present, p, k)
		default:
			return false, fmt.Errorf("pattern field %q: want an object or a list of matchers, got %T", k, pv)
		}
		if err != nil || !m {
			return false, err
		}
	}
	return true, nil
}

// matchLeaf: any of the matchers matches the value (any element of an
// array value).
func matchLeaf(v any, present bool, matchers []any, field string) (bool, error) {
	if _, isObj := v.(map[string]any); isObj {
		// EventBridge matches leaves only.
		present, v = false, nil
	}
	for _, m := range matchers {
		if f, ok := m.(map[string]any); ok {
			ok, err := matchFilter(v, present, f, field)
			if err != nil || ok {
				return ok, err
			}
			continue
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			for _, el := range arr {
				if equalValue(el, m) {
					return true, nil
				}
			}
			continue
		}
		if equalValue(v, m) {
			return true, nil
		}
	}
	return false, nil
}

// equalValue compares JSON scalars; numbers by value.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numEqual(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return false
}

func numEqual(a, b json.Number) bool {
	x, ok1 := new(big.Rat).SetString(string(a))
	y, ok2 := new(big.Rat).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}

// matchFilter applies one named filter ({"prefix": "x"}...).
func matchFilter(v any, present bool, f map[string]any, field string) (bool, error) {
	if len(f) != 1 {
		return false, fmt.Errorf("pattern field %q: a filter object has exactly one member, got %d", field, len(f))
	}
	for name, arg := range f {
		if name == "exists" {
			want, ok := arg.(bool)
			if !ok {
				return false, fmt.Errorf("pattern field %q: exists wants true or false", field)
			}
			return present == want, nil
		}
		if !present {
			return false, nil
		}
		test, err := filterTest(name, arg, field)
		if err != nil {
			return false, err
		}
		if arr, ok := v.([]any); ok {
			for _, el := range arr {
				if test(el) {
					return true, nil
				}
			}
			return false, nil
		}
		return test(v), nil
	}
	return false, nil
}

// filterTest is the test a named filter applies to one scalar.
func filterTest(name string, arg any, field string) (func(any) bool, error) {
	bad := func(want string) (func(any) bool, error) {
		return nil, fmt.Errorf("pattern field %q: %s wants %s", field, name, want)
	}
	strs := func(arg any) ([]string, bool) {
		switch a := arg.(type) {
		case string:
			return []string{a}, true
		case []any:
			out := make([]string, 0, len(a))
			for _, x := range a {
				s, ok := x.(string)
				if !ok {
					return nil, false
				}
				out = append(out, s)
			}
			return out, true
		}
		return nil, false
	}
	switch name {
	case "prefix", "suffix":
		fold := false
		if m, ok := arg.(map[string]any); ok {
			if len(m) != 1 || m["equals-ignore-case"] == nil {
				return bad(`a string, a list of strings or {"equals-ignore-case": string}`)
			}
			arg, fold = m["equals-ignore-case"], true
		}
		list, ok := strs(arg)
		if !ok {
			return bad("a string or a list of strings")
		}
		return anyString(list, func(s, p string) bool {
			if fold {
				s, p = strings.ToLower(s), strings.ToLower(p)
			}
			return (name == "prefix" && strings.HasPrefix(s, p)) || (name == "suffix" && strings.HasSuffix(s, p))
		}), nil
	case "equals-ignore-case":
		list, ok := strs(arg)
		if !ok {
			return bad("a string or a list of strings")
		}
		return anyString(list, strings.EqualFold), nil
	case "wildcard":
		list, ok := strs(arg)
		if !ok {
			return bad("a string or a list of strings")
		}
		return anyString(list, wildcard), nil
	case "numeric":
		ops, ok := arg.([]any)
		if !ok || len(ops) == 0 || len(ops)%2 != 0 {
			return bad(`a list of operator and number pairs, e.g. [">", 0, "<=", 5]`)
		}
		type cmp struct {
			op  string
			num *big.Rat
		}
		var cs []cmp
		for i := 0; i < len(ops); i += 2 {
			op, ok1 := ops[i].(string)
			n, ok2 := ops[i+1].(json.Number)
			r, ok3 := new(big.Rat).SetString(string(n))
			switch {
			case !ok1 || !ok2 || !ok3:
				return bad(`a list of operator and number pairs, e.g. [">", 0, "<=", 5]`)
			case op != "<" && op != "<=" && op != "=" && op != ">=" && op != ">":
				return bad(`operators among <, <=, =, >=, >`)
			}
			cs = append(cs, cmp{op, r})
		}
		return func(v any) bool {
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			x, ok := new(big.Rat).SetString(string(n))
			if !ok {
				return false
			}
			for _, c := range cs {
				d := x.Cmp(c.num)
				switch c.op {
				case "<":
					ok = d < 0
				case "<=":
					ok = d <= 0
				case "=":
					ok = d == 0
				case ">=":
					ok = d >= 0
				default:
					ok = d > 0
				}
				if !ok {
					return false
				}
			}
			return true
		}, nil
	case "anything-but":
		switch a := arg.(type) {
		case map[string]any:
			if len(a) != 1 {
				return bad("one filter")
			}
			for inner, innerArg := range a {
				t, err := filterTest(inner, innerArg, field)
				if err != nil {
					return nil, err
				}
				return func(v any) bool { return !t(v) }, nil
			}
		case []any:
			return func(v any) bool {
				for _, x := range a {
					if equalValue(v, x) {
						return false
					}
				}
				return true
			}, nil
		default:
			return func(v any) bool { return !equalValue(v, a) }, nil
		}
	}
	return nil, fmt.Errorf("pattern field %q: filter %q is not supported here", field, name)
}

// wildcard matches s against p, where * matches any run of characters
// and \* a literal star.
func wildcard(s, p string) bool {
	// Split p into literal parts around unescaped stars.
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			cur.WriteByte(p[i])
		case p[i] == '*':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	parts = append(parts, cur.String())
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last) && len(s) >= len(last)
}

// anyString matches a string value for which match(value, p) holds for
// some p of list; a value of another type never matches.
func anyString(list []string, match func(s, p string) bool) func(any) bool {
	return func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		for _, p := range list {
			if match(s, p) {
				return true
			}
		}
		return false
	}
}
