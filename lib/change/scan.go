package change

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads JSON text in place, without reflection: the envelope of a
// change event is decoded in one pass over the SQS body, and the router
// checks the images it copies. It accepts exactly the JSON grammar (RFC
// 8259) that encoding/json accepts, and nests at most maxNesting deep, as
// encoding/json does.
type scanner struct {
	s string
	i int
}

const maxNesting = 10000

// syntaxError describes where the text stops being JSON.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.offset) }

func (sc *scanner) fail(msg string) error { return &syntaxError{msg: msg, offset: sc.i} }

func (sc *scanner) unexpected(context string) error {
	if sc.i >= len(sc.s) {
		return sc.fail("unexpected end of JSON input")
	}
	return sc.fail(fmt.Sprintf("invalid character %s %s", quoteChar(sc.s[sc.i]), context))
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// ws skips whitespace.
func (sc *scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek is the next byte after whitespace, 0 at the end.
func (sc *scanner) peek() byte {
	sc.ws()
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

// expect consumes c after whitespace.
func (sc *scanner) expect(c byte, context string) error {
	if sc.peek() != c {
		return sc.unexpected(context)
	}
	sc.i++
	return nil
}

// kind names the JSON type starting with c, for errors.
func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// object reads an object's members, calling member with each name with
// the scanner at the member's value, which member must consume.
func (sc *scanner) object(member func(name string) error) error {
	if err := sc.expect('{', "looking for beginning of object"); err != nil {
		return err
	}
	if sc.peek() == '}' {
		sc.i++
		return nil
	}
	for {
		if sc.peek() != '"' {
			return sc.unexpected("looking for beginning of object key string")
		}
		name, err := sc.str()
		if err != nil {
			return err
		}
		if err := sc.expect(':', "after object key"); err != nil {
			return err
		}
		sc.ws()
		if err := member(name); err != nil {
			return err
		}
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return sc.unexpected("after object key:value pair")
		}
	}
}

// raw consumes any value and returns its text.
func (sc *scanner) raw() (string, error) {
	sc.ws()
	start := sc.i
	if err := sc.skip(0); err != nil {
		return "", err
	}
	return sc.s[start:sc.i], nil
}

// null consumes a null if one comes next.
func (sc *scanner) null() bool {
	if sc.peek() == 'n' && len(sc.s)-sc.i >= 4 && sc.s[sc.i:sc.i+4] == "null" {
		sc.i += 4
		return true
	}
	return false
}

// skip consumes one value (after whitespace), checking it.
func (sc *scanner) skip(depth int) error {
	switch sc.peek() {
	case '{':
		if depth >= maxNesting {
			return sc.fail("exceeded max depth")
		}
		sc.i++
		if sc.peek() == '}' {
			sc.i++
			return nil
		}
		for {
			if sc.peek() != '"' {
				return sc.unexpected("looking for beginning of object key string")
			}
			if _, _, err := sc.strSpan(); err != nil {
				return err
			}
			if err := sc.expect(':', "after object key"); err != nil {
				return err
			}
			if err := sc.skip(depth + 1); err != nil {
				return err
			}
			switch sc.peek() {
			case ',':
				sc.i++
			case '}':
				sc.i++
				return nil
			default:
				return sc.unexpected("after object key:value pair")
			}
		}
	case '[':
		if depth >= maxNesting {
			return sc.fail("exceeded max depth")
		}
		sc.i++
		if sc.peek() == ']' {
			sc.i++
			return nil
		}
		for {
			if err := sc.skip(depth + 1); err != nil {
				return err
			}
			switch sc.peek() {
			case ',':
				sc.i++
			case ']':
				sc.i++
				return nil
			default:
				return sc.unexpected("after array element")
			}
		}
	case '"':
		_, _, err := sc.strSpan()
		return err
	case 't':
		return sc.literal("true")
	case 'f':
		return sc.literal("false")
	case 'n':
		return sc.literal("null")
	default:
		return sc.number()
	}
}

func (sc *scanner) literal(lit string) error {
	for j := 0; j < len(lit); j++ {
		if sc.i >= len(sc.s) || sc.s[sc.i] != lit[j] {
			return sc.unexpected("in literal " + lit)
		}
		sc.i++
	}
	return nil
}

func (sc *scanner) digits() int {
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		sc.i++
	}
	return sc.i - start
}

// number consumes a number in JSON's grammar.
func (sc *scanner) number() error {
	if sc.i < len(sc.s) && sc.s[sc.i] == '-' {
		sc.i++
	}
	switch {
	case sc.i < len(sc.s) && sc.s[sc.i] == '0':
		sc.i++
	case sc.i < len(sc.s) && sc.s[sc.i] >= '1' && sc.s[sc.i] <= '9':
		sc.digits()
	default:
		return sc.unexpected("looking for beginning of value")
	}
	if sc.i < len(sc.s) && sc.s[sc.i] == '.' {
		sc.i++
		if sc.digits() == 0 {
			return sc.unexpected("after decimal point in numeric literal")
		}
	}
	if sc.i < len(sc.s) && (sc.s[sc.i] == 'e' || sc.s[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.s) && (sc.s[sc.i] == '+' || sc.s[sc.i] == '-') {
			sc.i++
		}
		if sc.digits() == 0 {
			return sc.unexpected("in exponent of numeric literal")
		}
	}
	return nil
}

// plainByte marks the bytes a string can hold as they are: printable
// ASCII but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strSpan consumes a string and returns the text between its quotes and
// whether that text is already the string's value (no escapes, valid
// UTF-8).
func (sc *scanner) strSpan() (text string, plain bool, err error) {
	sc.i++ // the opening quote
	start := sc.i
	plain = true
	for {
		for sc.i < len(sc.s) && plainByte[sc.s[sc.i]] {
			sc.i++
		}
		if sc.i >= len(sc.s) {
			return "", false, sc.fail("unexpected end of JSON input")
		}
		switch c := sc.s[sc.i]; {
		case c == '"':
			text = sc.s[start:sc.i]
			sc.i++
			return text, plain, nil
		case c == '\\':
			plain = false
			sc.i++
			if sc.i >= len(sc.s) {
				return "", false, sc.fail("unexpected end of JSON input")
			}
			switch sc.s[sc.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.i++
			case 'u':
				sc.i++
				for range 4 {
					if sc.i >= len(sc.s) || unhex(sc.s[sc.i]) < 0 {
						return "", false, sc.unexpected("in \\u hexadecimal character escape")
					}
					sc.i++
				}
			default:
				return "", false, sc.unexpected("in string escape code")
			}
		case c < 0x20:
			return "", false, sc.unexpected("in string literal")
		default:
			r, size := utf8.DecodeRuneInString(sc.s[sc.i:])
			if r == utf8.RuneError && size == 1 {
				plain = false // decodes to U+FFFD, as in encoding/json
			}
			sc.i += size
		}
	}
}

// str consumes a string and returns its value: the text itself when it
// needs no decoding, so no copy of the body is made.
func (sc *scanner) str() (string, error) {
	text, plain, err := sc.strSpan()
	if err != nil || plain {
		return text, err
	}
	return unquote(text), nil
}

// strOrNull reads a string field; null leaves it empty, as encoding/json
// does.
func (sc *scanner) strOrNull(field string) (string, error) {
	if sc.null() {
		return "", nil
	}
	if sc.peek() != '"' {
		return "", sc.wrongType(field, "a string")
	}
	return sc.str()
}

func (sc *scanner) wrongType(field, want string) error {
	if sc.i >= len(sc.s) {
		return sc.fail("unexpected end of JSON input")
	}
	return sc.fail(fmt.Sprintf("%s: want %s, found %s", field, want, kind(sc.s[sc.i])))
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unquote decodes the text of a string the scanner has checked: escapes
// resolved, invalid UTF-8 and lone surrogates replaced by U+FFFD, as
// encoding/json decodes them.
func unquote(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch s[i] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+1:])
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						r2 = hex4(s[i+3:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default: // '"', '\\', '/'
				b = append(b, s[i])
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return string(b)
}

func hex4(s string) rune {
	return unhex(s[0])<<12 | unhex(s[1])<<8 | unhex(s[2])<<4 | unhex(s[3])
}

// validJSON reports whether s is one JSON value (whitespace around it
// allowed), like json.Valid.
func validJSON(s string) bool {
	sc := scanner{s: s}
	if sc.skip(0) != nil {
		return false
	}
	sc.ws()
	return sc.i == len(s)
}
