package gqldoc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lexer tokenizes as graphql-go does: Go's text/scanner with its
// default mode, GoTokens (graphql-go sets a narrower mode, which the
// scanner's Init then resets), over the document after its \u escapes are
// rewritten (normalize). So names are Unicode letters and digits, numbers
// follow Go's literal syntax (0x1F, 017, 1_000, .5, 1e3), strings take
// Go's escapes and end at a line feed with an error, // and /* */ are
// comments, 'x' and `raw` are tokens (that no rule accepts but the one
// after a '-'), any other character is a token of its own (a spread is
// three '.' tokens), and NUL or invalid UTF-8 anywhere is a syntax error.

type tokKind uint8

const (
	tEOF tokKind = iota
	tName
	tInt
	tFloat
	tString
	tChar      // 'x'
	tRawString // `raw`
	tPunct     // a single character, in lexer.ch
)

type lexer struct {
	src string
	// pos is the offset of the next character not yet read: text/scanner's
	// one-character lookahead, which a block string reads from.
	pos        int
	kind       tokKind
	ch         rune // the character of a tPunct token
	start, end int  // the current token's text
}

// syntaxError is what the parser panics with; Parse recovers it.
type syntaxError struct {
	pos int
	msg string
}

func (l *lexer) fail(pos int, format string, args ...any) {
	panic(syntaxError{pos: pos, msg: fmt.Sprintf(format, args...)})
}

func (l *lexer) text() string { return l.src[l.start:l.end] }

// at is the byte at i, or 0 past the end (NUL never occurs in a document
// that got this far).
func (l *lexer) at(i int) byte {
	if i < len(l.src) {
		return l.src[i]
	}
	return 0
}

// scan reads the next token, skipping only spaces, tabs and line breaks
// (commas and comments are the parser's, as in graphql-go).
func (l *lexer) scan() {
	src := l.src
	i := l.pos
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i+1 >= len(src) || src[i] != '/' {
			break
		}
		if src[i+1] == '/' { // a Go line comment
			i += 2
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		if src[i+1] != '*' {
			break
		}
		end := strings.Index(src[i+2:], "*/")
		if end < 0 {
			l.fail(len(src), "comment not terminated")
		}
		i += 2 + end + 2
	}
	l.start = i
	if i >= len(src) {
		l.kind, l.pos, l.end = tEOF, i, i
		return
	}
	c := src[i]
	switch {
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		l.kind, l.pos = tName, l.name(i+1)
	case c >= '0' && c <= '9':
		l.kind, l.pos = l.number(i, false)
	case c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
		l.kind, l.pos = l.number(i+1, true)
	case c == '"':
		l.kind, l.pos = tString, l.str(i+1, '"')
	case c == '\'':
		l.kind, l.pos = tChar, l.str(i+1, '\'')
	case c == '`':
		end := strings.IndexByte(src[i+1:], '`')
		if end < 0 {
			l.fail(len(src), "literal not terminated")
		}
		l.kind, l.pos = tRawString, i+1+end+1
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(src[i:])
		if unicode.IsLetter(r) {
			l.kind, l.pos = tName, l.name(i+size)
		} else {
			l.kind, l.ch, l.pos = tPunct, r, i+size
		}
	default:
		l.kind, l.ch, l.pos = tPunct, rune(c), i+1
	}
	l.end = l.pos
}

func (l *lexer) name(i int) int {
	src := l.src
	for i < len(src) {
		c := src[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i += size
	}
	return i
}

func lower(c byte) byte { return c | ('a' - 'A') }

func isDecimal(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDecimal(c) || lower(c) >= 'a' && lower(c) <= 'f' }

// digits reads { digit | '_' } from i in base, recording in *invalid the
// first decimal digit too large for a base up to 10. bits: 1 when a digit
// was read, 2 when a separator was.
func (l *lexer) digits(i, base int, invalid *byte) (int, int) {
	bits := 0
	if base <= 10 {
		limit := byte('0' + base)
		for c := l.at(i); isDecimal(c) || c == '_'; c = l.at(i) {
			if c == '_' {
				bits |= 2
			} else {
				bits |= 1
				if c >= limit && *invalid == 0 {
					*invalid = c
				}
			}
			i++
		}
		return i, bits
	}
	for c := l.at(i); isHex(c) || c == '_'; c = l.at(i) {
		if c == '_' {
			bits |= 2
		} else {
			bits |= 1
		}
		i++
	}
	return i, bits
}

func literalName(prefix byte) string {
	switch prefix {
	case 'x':
		return "hexadecimal literal"
	case 'o', '0':
		return "octal literal"
	case 'b':
		return "binary literal"
	}
	return "decimal literal"
}

// number reads a number that starts at i (after a leading '.' when
// seenDot), with text/scanner's rules and errors.
func (l *lexer) number(i int, seenDot bool) (tokKind, int) {
	start := l.start
	base, prefix := 10, byte(0)
	bits := 0
	var invalid byte
	kind := tInt
	if !seenDot {
		if l.at(i) == '0' {
			i++
			switch lower(l.at(i)) {
			case 'x':
				i++
				base, prefix = 16, 'x'
			case 'o':
				i++
				base, prefix = 8, 'o'
			case 'b':
				i++
				base, prefix = 2, 'b'
			default:
				base, prefix = 8, '0'
				bits = 1 // the leading 0
			}
		}
		var b int
		i, b = l.digits(i, base, &invalid)
		bits |= b
		if l.at(i) == '.' {
			i++
			seenDot = true
		}
	}
	if seenDot {
		kind = tFloat
		if prefix == 'o' || prefix == 'b' {
			l.fail(i, "invalid radix point in %s", literalName(prefix))
		}
		var b int
		i, b = l.digits(i, base, &invalid)
		bits |= b
	}
	if bits&1 == 0 {
		l.fail(i, "%s has no digits", literalName(prefix))
	}
	if e := lower(l.at(i)); e == 'e' || e == 'p' {
		switch {
		case e == 'e' && prefix != 0 && prefix != '0':
			l.fail(i, "%q exponent requires decimal mantissa", rune(l.at(i)))
		case e == 'p' && prefix != 'x':
			l.fail(i, "%q exponent requires hexadecimal mantissa", rune(l.at(i)))
		}
		i++
		kind = tFloat
		if c := l.at(i); c == '+' || c == '-' {
			i++
		}
		var none byte
		var b int
		i, b = l.digits(i, 10, &none)
		bits |= b
		if b&1 == 0 {
			l.fail(i, "exponent has no digits")
		}
	} else if prefix == 'x' && kind == tFloat {
		l.fail(i, "hexadecimal mantissa requires a 'p' exponent")
	}
	if kind == tInt && invalid != 0 {
		l.fail(i, "invalid digit %q in %s", rune(invalid), literalName(prefix))
	}
	if bits&2 != 0 && badSeparator(l.src[start:i]) {
		l.fail(i, "'_' must separate successive digits")
	}
	return kind, i
}

// badSeparator reports an '_' in a number that does not stand between
// two digits (a base prefix counts as a digit).
func badSeparator(x string) bool {
	var x1 byte = ' '
	d := byte('.') // the previous character's class: '0' digit, '_', '.' other
	i := 0
	if len(x) >= 2 && x[0] == '0' {
		x1 = lower(x[1])
		if x1 == 'x' || x1 == 'o' || x1 == 'b' {
			d = '0'
			i = 2
		}
	}
	for ; i < len(x); i++ {
		p := d
		d = x[i]
		switch {
		case d == '_':
			if p != '0' {
				return true
			}
		case isDecimal(d) || x1 == 'x' && isHex(d):
			d = '0'
		default:
			if p == '_' {
				return true
			}
			d = '.'
		}
	}
	return d == '_'
}

// str reads a string (or a char literal, whose quote is ') from just
// after its opening quote: Go's escapes, no line feed (a carriage return
// is allowed); a char literal holds exactly one character.
func (l *lexer) str(i int, quote byte) int {
	src := l.src
	chars := 0
	for {
		if i >= len(src) {
			l.fail(i, "literal not terminated")
		}
		switch c := src[i]; {
		case c == quote:
			if quote == '\'' && chars != 1 {
				l.fail(i, "invalid char literal")
			}
			return i + 1
		case c == '\n':
			l.fail(i, "literal not terminated")
		case c == '\\':
			i = l.escape(i+1, quote)
		case c >= utf8.RuneSelf:
			_, size := utf8.DecodeRuneInString(src[i:])
			i += size
		default:
			i++
		}
		chars++
	}
}

func (l *lexer) escape(i int, quote byte) int {
	c := l.at(i)
	n, base := 0, 0
	switch c {
	case 'a', 'b', 'f', 'n', 'r', 't', 'v', '\\', quote:
		return i + 1
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n, base = 3, 8
	case 'x':
		i, n, base = i+1, 2, 16
	case 'u':
		i, n, base = i+1, 4, 16
	case 'U':
		i, n, base = i+1, 8, 16
	default:
		l.fail(i, "invalid char escape")
	}
	for ; n > 0; n-- {
		c := l.at(i)
		if base == 8 && (c < '0' || c > '7') || base == 16 && !isHex(c) {
			l.fail(i, "invalid char escape")
		}
		i++
	}
	return i
}

// blockString reads the rest of a block string: graphql-go starts one
// when a string token is followed at once by a quote, and ends it at the
// next three quotes (it has no \""" escape). It returns the raw content.
func (l *lexer) blockString() string {
	src := l.src
	i := l.pos + 1 // the quote that follows the string token
	from := i
	quotes := 0
	for ; i < len(src); i++ {
		if src[i] != '"' {
			quotes = 0
			continue
		}
		if quotes++; quotes == 3 {
			l.pos = i + 1
			return src[from : i-2]
		}
	}
	l.fail(i, "block string not terminated")
	return ""
}

// normalize rewrites the \u escapes of a document's strings the way
// graphql-go does before it scans: \u{1F600} and a surrogate pair become
// \U0001F600, a lone surrogate becomes an invalid escape; the rest of the
// text is unchanged. It tracks comments, strings and block strings on its
// own, not as the scanner will, and graphql-go's answers depend on that.
func normalize(src string) string {
	if !strings.Contains(src, `\u`) {
		return src
	}
	var b strings.Builder
	b.Grow(len(src))
	const (
		plain = iota
		comment
		quoted
		block
	)
	state := plain
	for i := 0; i < len(src); {
		c := src[i]
		switch state {
		case comment:
			if c == '\n' || c == '\r' {
				state = plain
			}
		case plain:
			switch {
			case c == '#':
				state = comment
			case strings.HasPrefix(src[i:], `"""`):
				state = block
				b.WriteString(`"""`)
				i += 3
				continue
			case c == '"':
				state = quoted
			}
		case block:
			switch {
			case strings.HasPrefix(src[i:], `\"""`):
				b.WriteString(`\"""`)
				i += 4
				continue
			case strings.HasPrefix(src[i:], `"""`):
				state = plain
				b.WriteString(`"""`)
				i += 3
				continue
			}
		case quoted:
			switch c {
			case '\\':
				if out, n, ok := rewriteUnicodeEscape(src[i:]); ok {
					b.WriteString(out)
					i += n
					continue
				}
				n := min(2, len(src)-i)
				b.WriteString(src[i : i+n])
				i += n
				continue
			case '"':
				state = plain
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// rewriteUnicodeEscape rewrites the \u escape at the start of s, reporting
// how many bytes it replaces; ok is false when it leaves s as it is.
func rewriteUnicodeEscape(s string) (out string, n int, ok bool) {
	if len(s) < 2 || s[0] != '\\' || s[1] != 'u' {
		return "", 0, false
	}
	if len(s) >= 4 && s[2] == '{' {
		j := 3
		for j < len(s) && isHex(s[j]) {
			j++
		}
		if j-3 > 8 {
			if j < len(s) && s[j] == '}' {
				return `\u{}`, j + 1, true
			}
			return `\u{}`, j, true
		}
		if j == 3 || j >= len(s) || s[j] != '}' {
			return "", 0, false
		}
		cp, err := strconv.ParseUint(s[3:j], 16, 32)
		if err != nil || cp > unicode.MaxRune || cp >= 0xD800 && cp <= 0xDFFF {
			return "", 0, false
		}
		return fmt.Sprintf(`\U%08X`, cp), j + 1, true
	}
	if len(s) < 6 || !allHex(s[2:6]) {
		return "", 0, false
	}
	code, _ := strconv.ParseUint(s[2:6], 16, 16)
	switch {
	case code >= 0xDC00 && code <= 0xDFFF:
		return fmt.Sprintf(`\u{%04X}`, code), 6, true // a lone low surrogate: invalid
	case code < 0xD800 || code > 0xDBFF:
		return "", 0, false
	}
	if len(s) < 12 || s[6] != '\\' || s[7] != 'u' || !allHex(s[8:12]) {
		return fmt.Sprintf(`\u{%04X}`, code), 6, true // a lone high surrogate
	}
	low, _ := strconv.ParseUint(s[8:12], 16, 16)
	if low < 0xDC00 || low > 0xDFFF {
		return fmt.Sprintf(`\u{%04X}`, code), 6, true
	}
	return fmt.Sprintf(`\U%08X`, (code-0xD800)<<10|(low-0xDC00)+0x10000), 12, true
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// checkText reports the first NUL or invalid UTF-8 byte of a document:
// graphql-go's scanner refuses both wherever they are.
func checkText(src string) (int, string) {
	if strings.IndexByte(src, 0) < 0 && utf8.ValidString(src) {
		return -1, ""
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return i, "invalid character NUL"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		if r == utf8.RuneError && size == 1 {
			return i, "invalid UTF-8 encoding"
		}
		i += size
	}
	return -1, ""
}
