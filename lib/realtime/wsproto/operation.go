package wsproto

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Operation types.
const (
	OpQuery        = "query"
	OpMutation     = "mutation"
	OpSubscription = "subscription"
)

// Operation is what the transport needs to know of an operation before it
// runs or stores it: its type and its root fields with their arguments.
// Validation against the schema is the GraphQL engine's job; Analyze only
// reads the document.
type Operation struct {
	Type string
	Name string
	// RootFields are the operation's root fields, with fragments spread at
	// the root expanded and arguments resolved against the variables.
	RootFields []Field
}

// Field is a root field of an operation.
type Field struct {
	Name  string
	Alias string
	// Args holds the argument values as JSON would decode them: strings,
	// float64, bool, nil, []any and map[string]any; enum values are strings.
	Args map[string]any
}

// Analyze reads the operation named operationName (or the only operation)
// of a GraphQL document.
func Analyze(query, operationName string, variables map[string]any) (Operation, error) {
	p := &parser{lex: lexer{src: query}}
	p.next()
	doc, err := p.document()
	if err != nil {
		return Operation{}, err
	}
	var op *opDef
	for i := range doc.ops {
		o := &doc.ops[i]
		if operationName == "" {
			if op != nil {
				return Operation{}, fmt.Errorf("the document has more than one operation: an operation name is required")
			}
			op = o
		} else if o.name == operationName {
			op = o
		}
	}
	if op == nil {
		if operationName == "" {
			return Operation{}, fmt.Errorf("the document has no operation")
		}
		return Operation{}, fmt.Errorf("no operation named %q", operationName)
	}
	vars := map[string]any{}
	for name, def := range op.defaults {
		vars[name] = def
	}
	for k, v := range variables {
		vars[k] = v
	}
	out := Operation{Type: op.typ, Name: op.name}
	seen := map[string]bool{}
	var walk func(sels []selection) error
	walk = func(sels []selection) error {
		for _, s := range sels {
			switch {
			case s.field != nil:
				if s.field.name == "__typename" {
					continue
				}
				args := make(map[string]any, len(s.field.args))
				for k, v := range s.field.args {
					args[k] = v.resolve(vars)
				}
				out.RootFields = append(out.RootFields, Field{Name: s.field.name, Alias: s.field.alias, Args: args})
			case s.spread != "":
				if seen[s.spread] {
					continue
				}
				seen[s.spread] = true
				f, ok := doc.fragments[s.spread]
				if !ok {
					return fmt.Errorf("unknown fragment %q", s.spread)
				}
				if err := walk(f); err != nil {
					return err
				}
			default:
				if err := walk(s.inline); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(op.sels); err != nil {
		return Operation{}, err
	}
	return out, nil
}

type document struct {
	ops       []opDef
	fragments map[string][]selection
}

type opDef struct {
	typ      string
	name     string
	defaults map[string]any
	sels     []selection
}

type selection struct {
	field  *fieldSel
	spread string
	inline []selection
}

type fieldSel struct {
	name, alias string
	args        map[string]value
}

// value is a literal or a variable reference.
type value struct {
	variable string
	lit      any
	list     []value
	object   map[string]value
	kind     byte // 'v' variable, 'l' literal, '[' list, '{' object
}

func (v value) resolve(vars map[string]any) any {
	switch v.kind {
	case 'v':
		return vars[v.variable]
	case '[':
		out := make([]any, len(v.list))
		for i, e := range v.list {
			out[i] = e.resolve(vars)
		}
		return out
	case '{':
		out := make(map[string]any, len(v.object))
		for k, e := range v.object {
			out[k] = e.resolve(vars)
		}
		return out
	}
	return v.lit
}

type tokKind int

const (
	tEOF tokKind = iota
	tPunct
	tName
	tInt
	tFloat
	tString
)

type token struct {
	kind tokKind
	text string
	pos  int
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "\uFEFF"):
			l.pos += len("\uFEFF")
		default:
			return l.token()
		}
	}
	return token{kind: tEOF, pos: l.pos}, nil
}

func (l *lexer) token() (token, error) {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case strings.HasPrefix(l.src[l.pos:], "..."):
		l.pos += 3
		return token{tPunct, "...", start}, nil
	case strings.ContainsRune("!$&()=:@[]{}|", rune(c)):
		l.pos++
		return token{tPunct, string(c), start}, nil
	case c == '_' || isLetter(c):
		for l.pos < len(l.src) && (l.src[l.pos] == '_' || isLetter(l.src[l.pos]) || isDigit(l.src[l.pos])) {
			l.pos++
		}
		return token{tName, l.src[start:l.pos], start}, nil
	case c == '-' || isDigit(c):
		l.pos++
		kind := tInt
		for l.pos < len(l.src) {
			d := l.src[l.pos]
			if isDigit(d) {
				l.pos++
			} else if d == '.' || d == 'e' || d == 'E' || ((d == '+' || d == '-') && kind == tFloat) {
				kind = tFloat
				l.pos++
			} else {
				break
			}
		}
		return token{kind, l.src[start:l.pos], start}, nil
	case strings.HasPrefix(l.src[l.pos:], `"""`):
		end := strings.Index(l.src[l.pos+3:], `"""`)
		for end >= 0 && strings.HasSuffix(l.src[l.pos+3:l.pos+3+end], `\`) {
			next := strings.Index(l.src[l.pos+3+end+3:], `"""`)
			if next < 0 {
				end = -1
				break
			}
			end += 3 + next
		}
		if end < 0 {
			return token{}, fmt.Errorf("syntax error at %d: unterminated block string", start)
		}
		body := strings.ReplaceAll(l.src[l.pos+3:l.pos+3+end], `\"""`, `"""`)
		l.pos += 3 + end + 3
		return token{tString, body, start}, nil
	case c == '"':
		l.pos++
		var b strings.Builder
		for l.pos < len(l.src) {
			d := l.src[l.pos]
			switch {
			case d == '"':
				l.pos++
				return token{tString, b.String(), start}, nil
			case d == '\n' || d == '\r':
				return token{}, fmt.Errorf("syntax error at %d: unterminated string", start)
			case d == '\\' && l.pos+1 < len(l.src):
				e := l.src[l.pos+1]
				l.pos += 2
				switch e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case 'b':
					b.WriteByte('\b')
				case 'f':
					b.WriteByte('\f')
				case 'u':
					if l.pos+4 > len(l.src) {
						return token{}, fmt.Errorf("syntax error at %d: bad unicode escape", l.pos)
					}
					n, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
					if err != nil {
						return token{}, fmt.Errorf("syntax error at %d: bad unicode escape", l.pos)
					}
					b.WriteRune(rune(n))
					l.pos += 4
				default:
					b.WriteByte(e)
				}
			default:
				r, size := utf8.DecodeRuneInString(l.src[l.pos:])
				b.WriteRune(r)
				l.pos += size
			}
		}
		return token{}, fmt.Errorf("syntax error at %d: unterminated string", start)
	}
	return token{}, fmt.Errorf("syntax error at %d: unexpected character %q", start, c)
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

type parser struct {
	lex lexer
	tok token
	err error
}

func (p *parser) next() {
	if p.err != nil {
		return
	}
	p.tok, p.err = p.lex.next()
}

func (p *parser) is(kind tokKind, text string) bool {
	return p.err == nil && p.tok.kind == kind && (text == "" || p.tok.text == text)
}

func (p *parser) expect(kind tokKind, text string) string {
	if p.err != nil {
		return ""
	}
	if !p.is(kind, text) {
		want := text
		if want == "" {
			want = map[tokKind]string{tName: "a name", tString: "a string"}[kind]
		}
		got := p.tok.text
		if p.tok.kind == tEOF {
			got = "end of document"
		}
		p.err = fmt.Errorf("syntax error at %d: expected %s, got %q", p.tok.pos, want, got)
		return ""
	}
	t := p.tok.text
	p.next()
	return t
}

func (p *parser) document() (document, error) {
	doc := document{fragments: map[string][]selection{}}
	for p.err == nil && p.tok.kind != tEOF {
		switch {
		case p.is(tPunct, "{"):
			doc.ops = append(doc.ops, opDef{typ: OpQuery, sels: p.selectionSet()})
		case p.is(tName, OpQuery), p.is(tName, OpMutation), p.is(tName, OpSubscription):
			op := opDef{typ: p.tok.text, defaults: map[string]any{}}
			p.next()
			if p.is(tName, "") {
				op.name = p.expect(tName, "")
			}
			if p.is(tPunct, "(") {
				p.variableDefinitions(op.defaults)
			}
			p.directives()
			op.sels = p.selectionSet()
			doc.ops = append(doc.ops, op)
		case p.is(tName, "fragment"):
			p.next()
			name := p.expect(tName, "")
			p.expect(tName, "on")
			p.expect(tName, "")
			p.directives()
			doc.fragments[name] = p.selectionSet()
		default:
			p.expect(tName, "query, mutation, subscription, fragment or {")
		}
	}
	if p.err != nil {
		return document{}, p.err
	}
	if len(doc.ops) == 0 {
		return document{}, fmt.Errorf("the document has no operation")
	}
	return doc, nil
}

func (p *parser) variableDefinitions(defaults map[string]any) {
	p.expect(tPunct, "(")
	for p.err == nil && !p.is(tPunct, ")") {
		p.expect(tPunct, "$")
		name := p.expect(tName, "")
		p.expect(tPunct, ":")
		p.typeRef()
		if p.is(tPunct, "=") {
			p.next()
			defaults[name] = p.value().resolve(nil)
		}
		p.directives()
	}
	p.expect(tPunct, ")")
}

func (p *parser) typeRef() {
	if p.is(tPunct, "[") {
		p.next()
		p.typeRef()
		p.expect(tPunct, "]")
	} else {
		p.expect(tName, "")
	}
	if p.is(tPunct, "!") {
		p.next()
	}
}

func (p *parser) directives() {
	for p.is(tPunct, "@") {
		p.next()
		p.expect(tName, "")
		if p.is(tPunct, "(") {
			p.arguments()
		}
	}
}

func (p *parser) arguments() map[string]value {
	args := map[string]value{}
	p.expect(tPunct, "(")
	for p.err == nil && !p.is(tPunct, ")") {
		name := p.expect(tName, "")
		p.expect(tPunct, ":")
		args[name] = p.value()
	}
	p.expect(tPunct, ")")
	return args
}

func (p *parser) value() value {
	if p.err != nil {
		return value{}
	}
	t := p.tok
	switch {
	case p.is(tPunct, "$"):
		p.next()
		return value{kind: 'v', variable: p.expect(tName, "")}
	case p.is(tPunct, "["):
		p.next()
		v := value{kind: '['}
		for p.err == nil && !p.is(tPunct, "]") {
			v.list = append(v.list, p.value())
		}
		p.expect(tPunct, "]")
		return v
	case p.is(tPunct, "{"):
		p.next()
		v := value{kind: '{', object: map[string]value{}}
		for p.err == nil && !p.is(tPunct, "}") {
			name := p.expect(tName, "")
			p.expect(tPunct, ":")
			v.object[name] = p.value()
		}
		p.expect(tPunct, "}")
		return v
	case t.kind == tInt || t.kind == tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.err = fmt.Errorf("syntax error at %d: bad number %q", t.pos, t.text)
		}
		return value{kind: 'l', lit: f}
	case t.kind == tString:
		p.next()
		return value{kind: 'l', lit: t.text}
	case t.kind == tName:
		p.next()
		switch t.text {
		case "true":
			return value{kind: 'l', lit: true}
		case "false":
			return value{kind: 'l', lit: false}
		case "null":
			return value{kind: 'l', lit: nil}
		}
		return value{kind: 'l', lit: t.text}
	}
	p.expect(tName, "a value")
	return value{}
}

func (p *parser) selectionSet() []selection {
	var sels []selection
	p.expect(tPunct, "{")
	for p.err == nil && !p.is(tPunct, "}") {
		if p.is(tPunct, "...") {
			p.next()
			if p.is(tName, "") && p.tok.text != "on" {
				sels = append(sels, selection{spread: p.expect(tName, "")})
				p.directives()
				continue
			}
			if p.is(tName, "on") {
				p.next()
				p.expect(tName, "")
			}
			p.directives()
			sels = append(sels, selection{inline: p.selectionSet()})
			continue
		}
		f := &fieldSel{name: p.expect(tName, "")}
		if p.is(tPunct, ":") {
			p.next()
			f.alias, f.name = f.name, p.expect(tName, "")
		}
		if p.is(tPunct, "(") {
			f.args = p.arguments()
		}
		p.directives()
		if p.is(tPunct, "{") {
			p.selectionSet()
		}
		sels = append(sels, selection{field: f})
	}
	p.expect(tPunct, "}")
	return sels
}
