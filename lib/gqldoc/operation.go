package gqldoc

import (
	"math"
	"strconv"
	"strings"
)

// Kind is the type of an operation.
type Kind uint8

// Operation types; the zero Kind is no operation.
const (
	Query Kind = iota + 1
	Mutation
	Subscription
)

func (k Kind) String() string {
	switch k {
	case Query:
		return "query"
	case Mutation:
		return "mutation"
	case Subscription:
		return "subscription"
	}
	return ""
}

// Operation is the operation of a Document a request selects.
type Operation struct {
	Kind Kind
	// Name is the operation's own name, "" for an anonymous one.
	Name string
	doc  *Document
	def  int32
}

// Document is the document op belongs to.
func (op Operation) Document() *Document { return op.doc }

// Operation selects the operation named name, or the only operation when
// name is "", as graphql-go does. Not finding exactly one is an *Error of
// kind Invalid.
func (d *Document) Operation(name string) (Operation, error) {
	found, count := int32(-1), 0
	for i := range d.defs {
		def := &d.defs[i]
		if def.kind == 0 || name != "" && def.name != name {
			continue
		}
		if count == 0 {
			found = int32(i)
		}
		count++
	}
	switch {
	case count == 1:
		def := &d.defs[found]
		return Operation{Kind: def.kind, Name: def.name, doc: d, def: found}, nil
	case name != "" && count > 1:
		return Operation{}, d.invalid(d.defs[found].pos, "there can be only one operation named %q", name)
	case name != "":
		return Operation{}, d.invalid(-1, "no operation named %q", name)
	case count == 0:
		return Operation{}, d.invalid(-1, "the document has no operation")
	}
	return Operation{}, d.invalid(-1, "the document has %d operations: name the one to run with operationName", count)
}

// Field is a root field of an operation.
type Field struct {
	Name  string
	Alias string // "" when the field has none
	// Args holds the arguments the field is given, resolved against the
	// variables, as JSON decodes values: string, float64, bool, nil, []any
	// and map[string]any; enum values are strings.
	Args map[string]any
}

// RootFields lists the operation's root fields, once per response key,
// with fragments at the root expanded, fields that @skip or @include
// leave out omitted, and __typename left out. variables are the request's
// (defaults of the operation fill the ones it does not give).
func (op Operation) RootFields(variables map[string]any) ([]Field, error) {
	d := op.doc
	vars := op.withDefaults(variables)
	var out []Field
	keys := map[string]bool{}
	seen := map[int32]bool{}
	var walk func(first int32) error
	walk = func(first int32) error {
		for i := first; i >= 0; i = d.sels[i].next {
			s := &d.sels[i]
			if d.skipped(s.dirs, vars) {
				continue
			}
			switch s.kind {
			case selField:
				if s.name == "__typename" {
					continue
				}
				key := s.alias
				if key == "" {
					key = s.name
				}
				if keys[key] {
					continue
				}
				keys[key] = true
				f := Field{Name: s.name, Alias: s.alias, Args: map[string]any{}}
				for a := s.args; a >= 0; a = d.args[a].next {
					v, err := d.decode(d.args[a].value, vars)
					if err != nil {
						return err
					}
					f.Args[d.args[a].name] = v
				}
				out = append(out, f)
			case selSpread:
				if s.frag < 0 {
					return d.invalid(s.pos, "unknown fragment %q", s.name)
				}
				if seen[s.frag] {
					continue
				}
				seen[s.frag] = true
				if err := walk(d.defs[s.frag].sels); err != nil {
					return err
				}
			case selInline:
				if err := walk(s.child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(d.defs[op.def].sels); err != nil {
		return nil, err
	}
	return out, nil
}

// withDefaults is variables with the operation's default values added
// for the variables it does not give.
func (op Operation) withDefaults(variables map[string]any) map[string]any {
	d := op.doc
	def := &d.defs[op.def]
	var out map[string]any
	for i := def.vars; i < def.vars+def.nvars; i++ {
		v := &d.vars[i]
		if v.def < 0 {
			continue
		}
		if _, ok := variables[v.name]; ok {
			continue
		}
		val, err := d.decode(v.def, nil)
		if err != nil {
			continue // Check reports it
		}
		if out == nil {
			out = make(map[string]any, len(variables)+1)
			for k, x := range variables {
				out[k] = x
			}
		}
		out[v.name] = val
	}
	if out == nil {
		return variables
	}
	return out
}

// skipped evaluates @skip(if:) and @include(if:) as graphql-go does: a
// selection is left out only when the argument is a boolean saying so.
func (d *Document) skipped(dirs int32, vars map[string]any) bool {
	for i := dirs; i >= 0; i = d.dirs[i].next {
		dir := &d.dirs[i]
		if dir.name != "skip" && dir.name != "include" {
			continue
		}
		for a := dir.args; a >= 0; a = d.args[a].next {
			if d.args[a].name != "if" {
				continue
			}
			v, err := d.decode(d.args[a].value, vars)
			if b, ok := v.(bool); ok && err == nil && b == (dir.name == "skip") {
				return true
			}
			break
		}
	}
	return false
}

// decode is the value of a literal, with variables substituted.
func (d *Document) decode(i int32, vars map[string]any) (any, error) {
	v := &d.vals[i]
	switch v.kind {
	case vVariable:
		return vars[v.text], nil
	case vInt, vFloat:
		if err := d.checkLiteral(v); err != nil {
			return nil, err
		}
		if v.kind == vInt {
			n, _ := strconv.ParseUint(v.text, 10, 64)
			if v.neg {
				return -float64(n) + 0, nil // + 0: -0 is 0, as an Int
			}
			return float64(n), nil
		}
		f, _ := strconv.ParseFloat(v.text, 64)
		if v.neg {
			f = -f
		}
		return f, nil
	case vString:
		s, err := strconv.Unquote(v.text)
		if err != nil {
			return nil, d.badLiteral(v)
		}
		return s, nil
	case vBlock:
		return blockValue(v.text), nil
	case vName:
		switch v.text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return v.text, nil
	case vNull:
		return nil, nil
	case vList:
		out := []any{}
		for e := v.child; e >= 0; e = d.vals[e].next {
			x, err := d.decode(e, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case vObject:
		out := map[string]any{}
		for e := v.child; e >= 0; e = d.vals[e].next {
			x, err := d.decode(e, vars)
			if err != nil {
				return nil, err
			}
			out[d.vals[e].name] = x
		}
		return out, nil
	}
	return nil, d.badLiteral(v)
}

func (d *Document) badLiteral(v *value) *Error {
	text := v.text
	switch {
	case v.kind == vBlock:
		text = `"""` + text + `"""`
	case v.neg:
		text = "-" + text
	case v.kind == vOdd:
		text = "-" + text
	}
	if len(text) > 40 {
		text = text[:37] + "..."
	}
	return d.invalid(v.pos, "the literal %s cannot be read as a value", text)
}

// checkLiteral reports a literal graphql-go parses but cannot decode: it
// would panic decoding an Int that is not plain decimal or out of 64
// bits, a Float strconv cannot read, a string with an escape Go cannot
// unquote, or '-' before something other than a number.
func (d *Document) checkLiteral(v *value) *Error {
	switch v.kind {
	case vInt:
		n, err := strconv.ParseUint(v.text, 10, 64)
		if err != nil || n > math.MaxInt64 && !(v.neg && n == 1<<63) {
			return d.badLiteral(v)
		}
	case vFloat:
		if _, err := strconv.ParseFloat(v.text, 64); err != nil {
			return d.badLiteral(v)
		}
	case vString:
		if !unquotable(v.text) {
			return d.badLiteral(v)
		}
	case vOdd:
		return d.badLiteral(v)
	}
	return nil
}

// unquotable reports whether strconv.Unquote can decode s, a string token
// the lexer accepted: its escapes are well-formed, but an octal escape may
// exceed 255 and a \u or \U escape may name no character.
func unquotable(s string) bool {
	for i := 1; i < len(s)-1; i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		switch c := s[i]; {
		case c >= '0' && c <= '7':
			n, _ := strconv.ParseUint(s[i:i+3], 8, 32)
			if n > 255 {
				return false
			}
			i += 2
		case c == 'x':
			i += 2
		case c == 'u' || c == 'U':
			n := 4
			if c == 'U' {
				n = 8
			}
			r, _ := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if r > 0x10FFFF || r >= 0xD800 && r <= 0xDFFF {
				return false
			}
			i += n
		}
	}
	return true
}

// blockValue is the value of a block string's raw content: common
// indentation removed from all lines but the first, leading and trailing
// blank lines dropped. Lines end at \n only, as graphql-go has it.
func blockValue(raw string) string {
	lines := strings.Split(raw, "\n")
	indent := -1
	for _, l := range lines[1:] {
		n := leadingBlanks(l)
		if n == len(l) {
			continue
		}
		if indent < 0 || n < indent {
			indent = n
		}
	}
	if indent > 0 {
		for i := 1; i < len(lines); i++ {
			if len(lines[i]) < indent {
				lines[i] = ""
			} else {
				lines[i] = lines[i][indent:]
			}
		}
	}
	for len(lines) > 0 && leadingBlanks(lines[0]) == len(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 1 && leadingBlanks(lines[len(lines)-1]) == len(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func leadingBlanks(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
