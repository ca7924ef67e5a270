package gqldoc

import (
	"unicode/utf8"
)

// maxNesting is graphql-go's parser limit on nested selection sets, list
// and object values and list types, counted together.
const maxNesting = 1000

// Document is a parsed executable document. Its zero value is empty; Parse
// fills it, reusing its memory. Its strings point into the text it parsed.
type Document struct {
	text  string
	defs  []definition
	sels  []selection
	args  []argument
	dirs  []directive
	vals  []value
	vars  []varDef
	types []typeRef

	// Scratch space of Measure, kept for reuse.
	memo []fragMemo
}

type definition struct {
	kind  Kind   // 0 for a fragment
	name  string // "" for an anonymous operation
	on    string // a fragment's type condition
	vars  int32  // first of nvars variable definitions
	nvars int32
	dirs  int32
	sels  int32
	pos   int32
}

type selKind uint8

const (
	selField selKind = iota
	selSpread
	selInline
)

type selection struct {
	kind selKind
	// alias is a field's alias, "" when it has none.
	alias string
	// name is a field's name, a spread's fragment, an inline fragment's
	// type condition ("" when it has none).
	name  string
	args  int32
	dirs  int32
	child int32 // first selection of the selection set, -1
	next  int32
	pos   int32
	frag  int32 // a spread's fragment definition, -1 when unknown
}

type argument struct {
	name  string
	value int32
	next  int32
	pos   int32
}

type directive struct {
	name string
	args int32
	next int32
}

type valKind uint8

const (
	vVariable valKind = iota
	vInt
	vFloat
	vString // text is the token, quotes included
	vBlock  // text is the raw content
	vName   // true, false or an enum value
	vNull
	vList
	vObject
	// vOdd is graphql-go's reading of '-' followed by a token that is not
	// a number: it parses, and can never be a valid value.
	vOdd
)

type value struct {
	kind  valKind
	neg   bool // a '-' before a number
	text  string
	name  string // the field name of an object value's member
	child int32
	next  int32
	pos   int32
}

type varDef struct {
	name string
	typ  int32
	def  int32 // default value, -1
	pos  int32
}

type refKind uint8

const (
	refNamed refKind = iota
	refList
	refNonNull
)

type typeRef struct {
	kind refKind
	name string
	of   int32
}

type parser struct {
	lexer
	d     *Document
	depth int
}

// Parse parses src, an executable GraphQL document, into a new Document.
func Parse(src string) (*Document, error) {
	d := new(Document)
	if err := d.Parse(src); err != nil {
		return nil, err
	}
	return d, nil
}

// Parse parses src into d, replacing what d held. A syntax error is an
// *Error of kind Syntax; d is then empty.
func (d *Document) Parse(src string) (err error) {
	d.reset()
	text := normalize(src)
	d.text = text
	if pos, msg := checkText(text); pos >= 0 {
		return syntaxErr(text, pos, msg)
	}
	p := parser{lexer: lexer{src: text}, d: d}
	if len(text) >= 3 && text[:3] == "\uFEFF" {
		p.pos = 3 // a byte order mark, only at the very start
	}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxError)
			if !ok {
				panic(r)
			}
			d.reset()
			err = syntaxErr(text, se.pos, se.msg)
		}
	}()
	p.document()
	d.resolveSpreads()
	return nil
}

func (d *Document) reset() {
	d.text = ""
	d.defs = d.defs[:0]
	d.sels = d.sels[:0]
	d.args = d.args[:0]
	d.dirs = d.dirs[:0]
	d.vals = d.vals[:0]
	d.vars = d.vars[:0]
	d.types = d.types[:0]
}

// advance moves to the next token, past commas and comments.
func (p *parser) advance() {
	for {
		p.scan()
		if p.kind != tPunct {
			return
		}
		switch p.ch {
		case ',':
			continue
		case '#':
			p.comment()
			continue
		}
		return
	}
}

// comment skips to just after the next line break.
func (p *parser) comment() {
	src := p.src
	i := p.pos
	for i < len(src) && src[i] != '\n' && src[i] != '\r' {
		i++
	}
	if i < len(src) {
		i++
	}
	p.pos = i
}

func (p *parser) is(c rune) bool { return p.kind == tPunct && p.ch == c }

func (p *parser) unexpected(expecting string) {
	got := p.text()
	if p.kind == tEOF {
		got = ""
	}
	p.fail(p.start, "unexpected %q, expecting %s", got, expecting)
}

func (p *parser) expect(c rune) {
	if !p.is(c) {
		p.unexpected(string(c))
	}
	p.advance()
}

func (p *parser) name() string {
	if p.kind != tName {
		p.unexpected("Name")
	}
	s := p.text()
	p.advance()
	return s
}

func (p *parser) descend() {
	if p.depth++; p.depth > maxNesting {
		p.fail(p.start, "maximum nesting depth exceeded")
	}
}

// description reads the optional description graphql-go accepts before a
// definition and a variable definition, and reports whether it is empty.
// graphql-go decodes it at once; one it cannot decode is an error.
func (p *parser) description() (empty bool) {
	if p.kind != tString {
		return true
	}
	if p.at(p.pos) == '"' {
		raw := p.blockString()
		p.advance()
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c != ' ' && c != '\t' && c != '\n' {
				return false
			}
		}
		return true
	}
	s := p.text()
	if !unquotable(s) {
		p.fail(p.start, "invalid escape in description %s", s)
	}
	p.advance()
	return len(s) == 2
}

func (p *parser) document() {
	d := p.d
	p.advance()
	for p.kind != tEOF {
		emptyDesc := p.description()
		pos := int32(p.start)
		if p.is('{') {
			if !emptyDesc {
				p.fail(p.start, "descriptions are only supported on full-form operation, fragment, and variable definitions")
			}
			sels := p.selectionSet()
			d.defs = append(d.defs, definition{kind: Query, sels: sels, dirs: -1, pos: pos})
			continue
		}
		switch kw := p.name(); kw {
		case "query":
			p.operation(Query, pos)
		case "mutation":
			p.operation(Mutation, pos)
		case "subscription":
			p.operation(Subscription, pos)
		case "fragment":
			p.fragment(pos)
		default:
			p.fail(int(pos), "unexpected %q, expecting \"fragment\"", kw)
		}
	}
}

func (p *parser) operation(kind Kind, pos int32) {
	d := p.d
	def := definition{kind: kind, pos: pos, vars: int32(len(d.vars))}
	if p.kind == tName {
		def.name = p.name()
	}
	if p.is('(') {
		p.advance()
		for !p.is(')') {
			p.description()
			vpos := int32(p.start)
			p.expect('$')
			p.description()
			v := varDef{name: p.name(), def: -1, pos: vpos}
			p.expect(':')
			v.typ = p.typeRef()
			if p.is('=') {
				p.advance()
				v.def = p.value(true)
			}
			p.directives()
			d.vars = append(d.vars, v)
		}
		p.advance()
	}
	def.nvars = int32(len(d.vars)) - def.vars
	def.dirs = p.directives()
	def.sels = p.selectionSet()
	d.defs = append(d.defs, def)
}

func (p *parser) fragment(pos int32) {
	def := definition{pos: pos, name: p.name()}
	if p.kind != tName || p.text() != "on" {
		p.unexpected(`"on"`)
	}
	p.advance()
	def.on = p.name()
	def.dirs = p.directives()
	def.sels = p.selectionSet()
	p.d.defs = append(p.d.defs, def)
}

func (p *parser) typeRef() int32 {
	d := p.d
	var t typeRef
	if p.is('[') {
		p.descend()
		p.advance()
		t = typeRef{kind: refList, of: p.typeRef()}
		p.expect(']')
		p.depth--
	} else {
		t = typeRef{kind: refNamed, name: p.name(), of: -1}
	}
	d.types = append(d.types, t)
	i := int32(len(d.types) - 1)
	if p.is('!') {
		p.advance()
		d.types = append(d.types, typeRef{kind: refNonNull, of: i})
		i++
	}
	return i
}

func (p *parser) directives() int32 {
	first, prev := int32(-1), int32(-1)
	for p.is('@') {
		p.advance()
		dir := directive{name: p.name(), args: -1, next: -1}
		if p.is('(') {
			dir.args = p.arguments()
		}
		p.d.dirs = append(p.d.dirs, dir)
		i := int32(len(p.d.dirs) - 1)
		if prev >= 0 {
			p.d.dirs[prev].next = i
		} else {
			first = i
		}
		prev = i
	}
	return first
}

func (p *parser) arguments() int32 {
	d := p.d
	first, prev := int32(-1), int32(-1)
	p.expect('(')
	for !p.is(')') {
		a := argument{pos: int32(p.start), name: p.name(), next: -1}
		p.expect(':')
		a.value = p.value(false)
		p.directives() // graphql-go reads directives after an argument
		d.args = append(d.args, a)
		i := int32(len(d.args) - 1)
		if prev >= 0 {
			d.args[prev].next = i
		} else {
			first = i
		}
		prev = i
	}
	p.advance()
	return first
}

// literal records the current token as a literal value; a string token
// followed at once by a quote starts a block string.
func (p *parser) literal(v *value) {
	switch p.kind {
	case tInt:
		v.kind = vInt
	case tFloat:
		v.kind = vFloat
	case tName:
		v.kind = vName
		if p.text() == "null" {
			v.kind = vNull
		}
	case tString:
		v.kind = vString
		if p.at(p.pos) == '"' {
			v.kind, v.text = vBlock, p.blockString()
			p.advance()
			return
		}
	case tEOF:
		p.unexpected("a value")
	default:
		v.kind = vOdd
	}
	v.text = p.text()
	p.advance()
}

func (p *parser) value(constOnly bool) int32 {
	d := p.d
	v := value{pos: int32(p.start), child: -1, next: -1}
	switch {
	case p.is('$'):
		if constOnly {
			p.fail(p.start, "variable not allowed")
		}
		p.advance()
		v.kind, v.text = vVariable, p.name()
	case p.kind == tInt, p.kind == tFloat, p.kind == tString, p.kind == tName:
		p.literal(&v)
	case p.is('-'):
		p.advance()
		p.literal(&v)
		switch v.kind {
		case vInt, vFloat:
			v.neg = true
		default:
			v.kind = vOdd
		}
	case p.is('['):
		p.descend()
		p.advance()
		v.kind = vList
		prev := int32(-1)
		for !p.is(']') {
			e := p.value(constOnly)
			if prev >= 0 {
				d.vals[prev].next = e
			} else {
				v.child = e
			}
			prev = e
		}
		p.advance()
		p.depth--
	case p.is('{'):
		p.descend()
		p.advance()
		v.kind = vObject
		prev := int32(-1)
		for !p.is('}') {
			name := p.name()
			p.expect(':')
			e := p.value(constOnly)
			d.vals[e].name = name
			if prev >= 0 {
				d.vals[prev].next = e
			} else {
				v.child = e
			}
			prev = e
		}
		p.advance()
		p.depth--
	default:
		p.fail(p.start, "invalid value")
	}
	d.vals = append(d.vals, v)
	return int32(len(d.vals) - 1)
}

func (p *parser) selectionSet() int32 {
	d := p.d
	p.descend()
	p.expect('{')
	first := p.selection()
	prev := first
	for !p.is('}') {
		s := p.selection()
		d.sels[prev].next = s
		prev = s
	}
	p.advance()
	p.depth--
	return first
}

func (p *parser) selection() int32 {
	s := selection{pos: int32(p.start), args: -1, dirs: -1, child: -1, next: -1, frag: -1}
	if p.is('.') {
		p.expect('.')
		p.expect('.')
		p.expect('.')
		s.kind = selInline
		if p.kind == tName {
			if name := p.name(); name != "on" {
				s.kind, s.name = selSpread, name
				s.dirs = p.directives()
				return p.add(s)
			}
			s.name = p.name()
		}
		s.dirs = p.directives()
		s.child = p.selectionSet()
		return p.add(s)
	}
	s.name = p.name()
	if p.is(':') {
		p.advance()
		s.alias, s.name = s.name, p.name()
	}
	if p.is('(') {
		s.args = p.arguments()
	}
	s.dirs = p.directives()
	if p.is('{') {
		s.child = p.selectionSet()
	}
	return p.add(s)
}

func (p *parser) add(s selection) int32 {
	p.d.sels = append(p.d.sels, s)
	return int32(len(p.d.sels) - 1)
}

// resolveSpreads points each spread at its fragment (the first of that
// name, as graphql-go takes).
func (d *Document) resolveSpreads() {
	nfrags := 0
	for i := range d.defs {
		if d.defs[i].kind == 0 {
			nfrags++
		}
	}
	if nfrags == 0 {
		return
	}
	var byName map[string]int32
	if nfrags > 16 {
		byName = make(map[string]int32, nfrags)
		for i := len(d.defs) - 1; i >= 0; i-- {
			if d.defs[i].kind == 0 {
				byName[d.defs[i].name] = int32(i)
			}
		}
	}
	for i := range d.sels {
		s := &d.sels[i]
		if s.kind != selSpread {
			continue
		}
		if byName != nil {
			if f, ok := byName[s.name]; ok {
				s.frag = f
			}
			continue
		}
		for j := range d.defs {
			if d.defs[j].kind == 0 && d.defs[j].name == s.name {
				s.frag = int32(j)
				break
			}
		}
	}
}

// location is the line and column (in characters, from 1) of an offset.
func location(text string, pos int) Location {
	if pos > len(text) {
		pos = len(text)
	}
	line, col := 1, 1
	for i := 0; i < pos; {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return Location{Line: line, Column: col}
}
