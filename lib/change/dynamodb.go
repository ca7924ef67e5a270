package change

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/topology"
)

// maxDepth bounds nesting; DynamoDB itself allows 32 levels.
const maxDepth = 64

// FromDynamoDB converts one DynamoDB stream record into a change event.
// table is the logical table name the caller resolved from the record's
// source ARN. Attribute values become plain JSON: numbers keep every digit
// (they are copied as written, never through float64), sets become arrays,
// binary values base64 strings, NULL null.
func FromDynamoDB(rec events.DynamoDBEventRecord, table string) (ev Event, err error) {
	// The aws-lambda-go attribute accessors panic on a value that was not
	// built by its JSON decoder or constructors (a zero value, say); report
	// that as a malformed record rather than crash the batch.
	defer func() {
		if r := recover(); r != nil {
			ev, err = Event{}, fmt.Errorf("record %s: malformed attribute value: %v", rec.EventID, r)
		}
	}()
	op := topology.Operation(rec.EventName)
	switch op {
	case topology.Insert, topology.Modify, topology.Remove:
	default:
		return Event{}, fmt.Errorf("record %s: unknown event name %q", rec.EventID, rec.EventName)
	}
	if rec.EventID == "" {
		return Event{}, errors.New("stream record without eventID")
	}
	if table == "" {
		return Event{}, fmt.Errorf("record %s: no table name", rec.EventID)
	}
	sr := &rec.Change
	if len(sr.Keys) == 0 {
		return Event{}, fmt.Errorf("record %s: no keys", rec.EventID)
	}

	c := convPool.Get().(*conv)
	defer c.release()

	// Keys, old and new image are written one after another into the
	// scratch buffer, then copied out in one allocation that the three raw
	// messages share.
	var ends [3]int
	if err := c.object(sr.Keys, 0); err != nil {
		return Event{}, fmt.Errorf("record %s: keys: %w", rec.EventID, err)
	}
	ends[0] = len(c.buf)
	if sr.OldImage != nil {
		if err := c.object(sr.OldImage, 0); err != nil {
			return Event{}, fmt.Errorf("record %s: old image: %w", rec.EventID, err)
		}
	}
	ends[1] = len(c.buf)
	if sr.NewImage != nil {
		if err := c.object(sr.NewImage, 0); err != nil {
			return Event{}, fmt.Errorf("record %s: new image: %w", rec.EventID, err)
		}
	}
	ends[2] = len(c.buf)
	out := bytes.Clone(c.buf)

	ev = Event{
		ID:             rec.EventID,
		Table:          table,
		Operation:      op,
		Keys:           out[:ends[0]:ends[0]],
		SequenceNumber: sr.SequenceNumber,
		ApproximateAt:  sr.ApproximateCreationDateTime.UTC(),
		Changed:        c.changed(op, sr.OldImage, sr.NewImage),
	}
	if ends[1] > ends[0] {
		ev.Old = out[ends[0]:ends[1]:ends[1]]
	}
	if ends[2] > ends[1] {
		ev.New = out[ends[1]:ends[2]:ends[2]]
	}
	ev.CorrelationID = stringAttr(sr.NewImage, correlation.Attribute)
	if ev.CorrelationID == "" {
		ev.CorrelationID = stringAttr(sr.OldImage, correlation.Attribute)
	}
	ev.CausedBy = stringAttr(sr.NewImage, correlation.SubjectAttribute)
	if ev.CausedBy == "" {
		ev.CausedBy = stringAttr(sr.OldImage, correlation.SubjectAttribute)
	}
	return ev, nil
}

// stringAttr is a string attribute of an image, or "".
func stringAttr(img map[string]events.DynamoDBAttributeValue, name string) string {
	av, ok := img[name]
	if !ok || av.DataType() != events.DataTypeString {
		return ""
	}
	return av.String()
}

// conv holds scratch space reused across conversions.
type conv struct {
	buf  []byte
	keys []string
}

var convPool = sync.Pool{New: func() any { return &conv{buf: make([]byte, 0, 4096), keys: make([]string, 0, 64)} }}

func (c *conv) release() {
	// Do not keep huge buffers alive in the pool.
	if cap(c.buf) > 1<<20 {
		c.buf = make([]byte, 0, 4096)
	}
	c.buf = c.buf[:0]
	c.keys = c.keys[:0]
	convPool.Put(c)
}

// object appends m as a JSON object with sorted keys.
func (c *conv) object(m map[string]events.DynamoDBAttributeValue, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	start := len(c.keys)
	for k := range m {
		c.keys = append(c.keys, k)
	}
	names := c.keys[start:]
	slices.Sort(names)
	c.buf = append(c.buf, '{')
	for i := start; i < len(c.keys); i++ {
		k := c.keys[i]
		if i > start {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendString(c.buf, k)
		c.buf = append(c.buf, ':')
		if err := c.value(m[k], depth+1); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	c.buf = append(c.buf, '}')
	c.keys = c.keys[:start]
	return nil
}

func (c *conv) value(av events.DynamoDBAttributeValue, depth int) error {
	switch av.DataType() {
	case events.DataTypeString:
		c.buf = appendString(c.buf, av.String())
	case events.DataTypeNumber:
		var err error
		if c.buf, err = appendNumber(c.buf, av.Number()); err != nil {
			return err
		}
	case events.DataTypeBoolean:
		c.buf = strconv.AppendBool(c.buf, av.Boolean())
	case events.DataTypeNull:
		c.buf = append(c.buf, "null"...)
	case events.DataTypeBinary:
		c.buf = appendBinary(c.buf, av.Binary())
	case events.DataTypeStringSet:
		c.buf = append(c.buf, '[')
		for i, s := range av.StringSet() {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = appendString(c.buf, s)
		}
		c.buf = append(c.buf, ']')
	case events.DataTypeNumberSet:
		c.buf = append(c.buf, '[')
		for i, s := range av.NumberSet() {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			var err error
			if c.buf, err = appendNumber(c.buf, s); err != nil {
				return err
			}
		}
		c.buf = append(c.buf, ']')
	case events.DataTypeBinarySet:
		c.buf = append(c.buf, '[')
		for i, b := range av.BinarySet() {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = appendBinary(c.buf, b)
		}
		c.buf = append(c.buf, ']')
	case events.DataTypeList:
		if depth > maxDepth {
			return errors.New("nested too deeply")
		}
		c.buf = append(c.buf, '[')
		for i, e := range av.List() {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			if err := c.value(e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		c.buf = append(c.buf, ']')
	case events.DataTypeMap:
		return c.object(av.Map(), depth)
	default:
		return fmt.Errorf("unsupported attribute type %d", av.DataType())
	}
	return nil
}

// changed lists the top-level attributes an operation added, removed or
// changed, sorted. An INSERT changes every attribute of the new image, a
// REMOVE every attribute of the old one. A MODIFY without both images
// (a stream that is not NEW_AND_OLD_IMAGES) has no answer: nil.
func (c *conv) changed(op topology.Operation, old, new map[string]events.DynamoDBAttributeValue) []string {
	start := len(c.keys)
	switch {
	case op == topology.Insert && new != nil:
		for k := range new {
			c.keys = append(c.keys, k)
		}
	case op == topology.Remove && old != nil:
		for k := range old {
			c.keys = append(c.keys, k)
		}
	case old != nil && new != nil:
		for k, nv := range new {
			if ov, ok := old[k]; !ok || !Equal(ov, nv) {
				c.keys = append(c.keys, k)
			}
		}
		for k := range old {
			if _, ok := new[k]; !ok {
				c.keys = append(c.keys, k)
			}
		}
	}
	if len(c.keys) == start {
		c.keys = c.keys[:start]
		return nil
	}
	out := slices.Clone(c.keys[start:])
	c.keys = c.keys[:start]
	slices.Sort(out)
	return out
}

// Equal reports whether two attribute values are the same DynamoDB value:
// numbers compare by value ("1.50" equals "1.5"), sets ignore order, maps
// ignore key order.
func Equal(a, b events.DynamoDBAttributeValue) bool {
	if a.DataType() != b.DataType() {
		return false
	}
	switch a.DataType() {
	case events.DataTypeString:
		return a.String() == b.String()
	case events.DataTypeNumber:
		return numberEqual(a.Number(), b.Number())
	case events.DataTypeBoolean:
		return a.Boolean() == b.Boolean()
	case events.DataTypeNull:
		return true
	case events.DataTypeBinary:
		return bytes.Equal(a.Binary(), b.Binary())
	case events.DataTypeStringSet:
		return sameSet(a.StringSet(), b.StringSet(), func(x, y string) bool { return x == y })
	case events.DataTypeNumberSet:
		return sameSet(a.NumberSet(), b.NumberSet(), numberEqual)
	case events.DataTypeBinarySet:
		return sameSet(a.BinarySet(), b.BinarySet(), bytes.Equal)
	case events.DataTypeList:
		la, lb := a.List(), b.List()
		if len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !Equal(la[i], lb[i]) {
				return false
			}
		}
		return true
	case events.DataTypeMap:
		ma, mb := a.Map(), b.Map()
		if len(ma) != len(mb) {
			return false
		}
		for k, va := range ma {
			vb, ok := mb[k]
			if !ok || !Equal(va, vb) {
				return false
			}
		}
		return true
	}
	return false
}

// sameSet compares sets (no duplicates by DynamoDB's rules) ignoring order.
func sameSet[E any](a, b []E, eq func(E, E) bool) bool {
	if len(a) != len(b) {
		return false
	}
outer:
	for _, x := range a {
		for _, y := range b {
			if eq(x, y) {
				continue outer
			}
		}
		return false
	}
	return true
}

func numberEqual(a, b string) bool {
	if a == b {
		return true
	}
	// The same number written two ways ("1.50", "1.5"). Plain decimals
	// compare without allocating; anything else as exact rationals.
	if x, ok := plainDecimal(a); ok {
		if y, ok := plainDecimal(b); ok {
			return x == y
		}
	}
	var x, y big.Rat
	if _, ok := x.SetString(a); !ok {
		return false
	}
	if _, ok := y.SetString(b); !ok {
		return false
	}
	return x.Cmp(&y) == 0
}

// decimal is a plain decimal literal without leading zeros in its integer
// part or trailing zeros in its fraction: equal values, equal decimals.
type decimal struct {
	neg       bool
	int, frac string
}

func plainDecimal(s string) (decimal, bool) {
	var d decimal
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	d.int = s
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			d.int, d.frac = s[:i], s[i+1:]
			break
		}
		if c < '0' || c > '9' {
			return d, false
		}
	}
	for i := 0; i < len(d.frac); i++ {
		if c := d.frac[i]; c < '0' || c > '9' {
			return d, false
		}
	}
	if d.int == "" && d.frac == "" {
		return d, false
	}
	for len(d.int) > 0 && d.int[0] == '0' {
		d.int = d.int[1:]
	}
	for len(d.frac) > 0 && d.frac[len(d.frac)-1] == '0' {
		d.frac = d.frac[:len(d.frac)-1]
	}
	if d.int == "" && d.frac == "" {
		d.neg = false // -0 == 0
	}
	return d, true
}

// appendNumber appends a DynamoDB number as a JSON number, digit for digit.
// DynamoDB numbers are decimal literals; the few spellings JSON does not
// allow (a leading '+' or '.', a trailing '.', leading zeros) are
// rewritten without changing the value.
func appendNumber(b []byte, n string) ([]byte, error) {
	if validJSONNumber(n) {
		return append(b, n...), nil
	}
	fixed, ok := normalizeNumber(n)
	if !ok {
		return b, fmt.Errorf("invalid number %q", n)
	}
	return append(b, fixed...), nil
}

// validJSONNumber reports whether s is a number in JSON's grammar.
func validJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}

func normalizeNumber(s string) (string, bool) {
	neg := false
	switch {
	case len(s) > 0 && s[0] == '+':
		s = s[1:]
	case len(s) > 0 && s[0] == '-':
		neg, s = true, s[1:]
	}
	mant, exp := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			mant, exp = s[:i], s[i:]
			break
		}
	}
	intPart, frac, hasDot := mant, "", false
	for i := 0; i < len(mant); i++ {
		if mant[i] == '.' {
			intPart, frac, hasDot = mant[:i], mant[i+1:], true
			break
		}
	}
	if intPart == "" && frac == "" {
		return "", false
	}
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasDot && frac != "" {
		out += "." + frac
	}
	out += exp
	if neg {
		out = "-" + out
	}
	return out, validJSONNumber(out)
}

func appendBinary(b []byte, v []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; U+2028 and U+2029 are escaped so the output is
// also safe inside JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
