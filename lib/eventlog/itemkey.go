package eventlog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/topology"
)

// ItemKey names one item: its table and the values of its key attributes,
// in canonical form. Its text form is what users type: "TABLE/KEY", or
// "TABLE/PK/SK" for a table with a sort key ("orders/ord_1",
// "lines/ord_1/3"). In the text form '/' and '%' inside a value, and
// control characters, are written as %XX; numbers are plain decimals
// without exponent, leading or trailing zeros ("1.5", not "1.50e0");
// binary values are unpadded URL-safe base64.
//
// ParseItemKey reads the text form against a topology; ItemKeyOf derives
// the key of a change event. Both give the same ItemKey for the same
// item, so it can be compared with ==.
type ItemKey struct {
	Table string
	// Partition is the partition key's value.
	Partition string
	// Sort is the sort key's value; "" for a table without a sort key
	// (DynamoDB key values are never empty).
	Sort string
}

// String is the text form.
func (k ItemKey) String() string {
	if k.Table == "" {
		return ""
	}
	s := k.Table + "/" + escapeKeyPart(k.Partition)
	if k.Sort != "" {
		s += "/" + escapeKeyPart(k.Sort)
	}
	return s
}

// IsZero reports whether k names nothing.
func (k ItemKey) IsZero() bool { return k == ItemKey{} }

// MarshalText is the text form.
func (k ItemKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads the text form as written by MarshalText (without a
// topology: values are taken as they are).
func (k *ItemKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*k = ItemKey{}
		return nil
	}
	table, parts, err := splitItemKey(string(b))
	if err != nil {
		return err
	}
	if len(parts) > 2 {
		return badInput("item key %.200q: more than two key values", b)
	}
	*k = ItemKey{Table: table, Partition: parts[0]}
	if len(parts) == 2 {
		k.Sort = parts[1]
	}
	return nil
}

// ParseItemKey reads an item key as a user types it ("orders/ord_1",
// "lines/ord_1/3") and returns it in canonical form, checked against the
// key schema of its table in topo. Errors are errs.BadUserInput.
func ParseItemKey(topo topology.Topology, s string) (ItemKey, error) {
	return schemasOf(topo).parse(s)
}

// ItemKeyOf is the key of the item a change event is about, from the
// event's keys and its table's key schema in topo. Errors are
// errs.BadUserInput.
func ItemKeyOf(topo topology.Topology, e change.Event) (ItemKey, error) {
	return schemasOf(topo).itemKeyOf(e)
}

// schemas maps table names to their declarations.
type schemas map[string]topology.Table

func schemasOf(topo topology.Topology) schemas {
	m := schemas{}
	for _, tb := range topo.AllTables() {
		m[tb.Name] = tb
	}
	return m
}

func (sc schemas) table(name string) (topology.Table, error) {
	tb, ok := sc[name]
	if !ok {
		return tb, badInput("table %q is not declared in the topology", name)
	}
	return tb, nil
}

func (sc schemas) parse(s string) (ItemKey, error) {
	table, parts, err := splitItemKey(s)
	if err != nil {
		return ItemKey{}, err
	}
	tb, err := sc.table(table)
	if err != nil {
		return ItemKey{}, err
	}
	want := 1
	form := table + "/" + strings.ToUpper(tb.PartitionKey.Name)
	if tb.SortKey != nil {
		want = 2
		form += "/" + strings.ToUpper(tb.SortKey.Name)
	}
	if len(parts) != want {
		return ItemKey{}, badInput("item key %.200q: table %s is keyed by %d value(s): want %s", s, table, want, form)
	}
	k := ItemKey{Table: table}
	if k.Partition, err = canonicalValue(tb.PartitionKey, parts[0]); err != nil {
		return ItemKey{}, fmt.Errorf("item key %.200q: %w", s, err)
	}
	if tb.SortKey != nil {
		if k.Sort, err = canonicalValue(*tb.SortKey, parts[1]); err != nil {
			return ItemKey{}, fmt.Errorf("item key %.200q: %w", s, err)
		}
	}
	return k, nil
}

func (sc schemas) itemKeyOf(e change.Event) (ItemKey, error) {
	tb, err := sc.table(e.Table)
	if err != nil {
		return ItemKey{}, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(e.Keys, &keys); err != nil || keys == nil {
		return ItemKey{}, badInput("keys %.200s: want a JSON object", e.Keys)
	}
	k := ItemKey{Table: e.Table}
	if k.Partition, err = keyFromJSON(tb.PartitionKey, keys); err != nil {
		return ItemKey{}, err
	}
	if tb.SortKey != nil {
		if k.Sort, err = keyFromJSON(*tb.SortKey, keys); err != nil {
			return ItemKey{}, err
		}
	}
	return k, nil
}

// keyFromJSON reads one key attribute of a change's keys object: a string
// (S, and B as base64) or a number (N).
func keyFromJSON(key topology.Key, keys map[string]json.RawMessage) (string, error) {
	raw, ok := keys[key.Name]
	if !ok {
		return "", badInput("keys have no %q", key.Name)
	}
	raw = bytes.TrimSpace(raw)
	var v string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", badInput("key %q: %v", key.Name, err)
		}
	case key.Type == topology.Number:
		v = string(raw)
	default:
		return "", badInput("key %q: %.100s is not a string", key.Name, raw)
	}
	c, err := canonicalValue(key, v)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", key.Name, err)
	}
	return c, nil
}

// canonicalValue is a key value in canonical form for its type.
func canonicalValue(key topology.Key, v string) (string, error) {
	if v == "" {
		return "", badInput("%s: empty key value", key.Name)
	}
	switch key.Type {
	case topology.Number:
		n, ok := canonicalNumber(v)
		if !ok {
			return "", badInput("%s: %.100q is not a number", key.Name, v)
		}
		return n, nil
	case topology.Binary:
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(v); err == nil && len(b) > 0 {
				return base64.RawURLEncoding.EncodeToString(b), nil
			}
		}
		return "", badInput("%s: %.100q is not base64", key.Name, v)
	default:
		if !utf8.ValidString(v) {
			return "", badInput("%s: not UTF-8", key.Name)
		}
		return v, nil
	}
}

// canonicalNumber writes a decimal number (sign, digits, fraction,
// exponent) as a plain decimal: no exponent, no leading zeros, no trailing
// zeros in the fraction, "0" for zero. DynamoDB numbers have at most 38
// significant digits and exponents within ±130, so the result is short.
func canonicalNumber(s string) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 200 || e < -200 {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" && frac == "" {
		return "", false
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	// The value is digits × 10^(exp - len(frac)); place the point.
	point := len(intPart) + exp
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	digits, point = digits[lead:], point-lead
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0", true
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String(), true
}

// splitItemKey splits the text form into the table and unescaped values.
func splitItemKey(s string) (string, []string, error) {
	fields := strings.Split(s, "/")
	if len(fields) < 2 || fields[0] == "" {
		return "", nil, badInput("item key %.200q: want TABLE/KEY or TABLE/PK/SK", s)
	}
	parts := make([]string, len(fields)-1)
	for i, f := range fields[1:] {
		v, err := unescapeKeyPart(f)
		if err != nil {
			return "", nil, badInput("item key %.200q: %v", s, err)
		}
		if v == "" {
			return "", nil, badInput("item key %.200q: empty key value", s)
		}
		parts[i] = v
	}
	return fields[0], parts, nil
}

func escapeKeyPart(v string) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if needsEscape(v[i]) {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func needsEscape(c byte) bool { return c == '/' || c == '%' || c < 0x20 || c == 0x7f }

func unescapeKeyPart(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape at %d: want %%XX", i)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q", s[i:i+3])
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}
