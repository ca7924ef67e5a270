package gqldoc

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxVariableErrors bounds the errors one request gets back.
const maxVariableErrors = 10

// CoerceVariables checks the request's variables (as encoding/json decodes
// them) against the types op declares, with the GraphQL specification's
// input coercion: Int is an integral number within 32 bits, Float a
// number, String a string, Boolean a boolean, ID a string or an integral
// number, an enum one of its values, an input object an object with only
// its fields and all its required ones; a list takes a list or a single
// item; null only where the type is nullable; a required variable without
// a default must be given. Custom scalars are the resolvers' to check.
// Variables the operation does not declare are ignored, and so are
// declarations of types the schema does not have (graphql-go's validation
// reports those).
//
// It returns the values graphql-go should execute with: variables itself,
// or a copy in which an ID given as a number is its decimal string, which
// is how graphql-go takes an ID. A failure is an Errors of kind
// BadVariables, one per variable.
func (s *Schema) CoerceVariables(op Operation, variables map[string]any) (map[string]any, error) {
	d := op.doc
	def := &d.defs[op.def]
	out, copied := variables, false
	var errs Errors
	for i := def.vars; i < def.vars+def.nvars && len(errs) < maxVariableErrors; i++ {
		vd := &d.vars[i]
		v, given := variables[vd.name]
		if !given {
			if vd.def < 0 && d.types[vd.typ].kind == refNonNull {
				errs = append(errs, d.badVariable(vd, "Variable \"$%s\" of required type \"%s\" was not provided.",
					vd.name, typeString(d.types, vd.typ)))
			}
			continue
		}
		if v == nil && d.types[vd.typ].kind == refNonNull {
			errs = append(errs, d.badVariable(vd, "Variable \"$%s\" of non-null type \"%s\" must not be null.",
				vd.name, typeString(d.types, vd.typ)))
			continue
		}
		c := coercion{s: s}
		nv, changed := c.coerce(d.types, vd.typ, v, vd.name)
		if c.problem != "" {
			at := ""
			if strings.ContainsAny(c.path, ".[") {
				at = fmt.Sprintf(" at %q", c.path)
			}
			errs = append(errs, d.badVariable(vd, "Variable \"$%s\" got invalid value %s%s; %s", vd.name, show(c.value), at, c.problem))
			continue
		}
		if changed {
			if !copied {
				out, copied = make(map[string]any, len(variables)), true
				for k, x := range variables {
					out[k] = x
				}
			}
			out[vd.name] = nv
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func (d *Document) badVariable(vd *varDef, format string, args ...any) *Error {
	return &Error{Kind: BadVariables, Message: fmt.Sprintf(format, args...), Locations: []Location{location(d.text, int(vd.pos))}}
}

// coercion is one variable's coercion; the first problem stops it.
type coercion struct {
	s       *Schema
	problem string
	path    string // where the problem is: input.items[0].quantity
	value   any    // the value at path
}

func (c *coercion) fail(path string, v any, format string, args ...any) {
	c.problem, c.path, c.value = fmt.Sprintf(format, args...), path, v
}

// coerce checks v against the type refs[t]; it returns the value to use
// and whether it differs from v.
func (c *coercion) coerce(refs []typeRef, t int32, v any, path string) (any, bool) {
	r := refs[t]
	switch r.kind {
	case refNonNull:
		if v == nil {
			c.fail(path, v, "Expected non-nullable type %q not to be null.", typeString(refs, t))
			return v, false
		}
		return c.coerce(refs, r.of, v, path)
	case refList:
		if v == nil {
			return v, false
		}
		list, ok := v.([]any)
		if !ok {
			return c.coerce(refs, r.of, v, path) // a single item stands for a list of one
		}
		var out []any
		for i, e := range list {
			ne, changed := c.coerce(refs, r.of, e, path+"["+strconv.Itoa(i)+"]")
			if c.problem != "" {
				return v, false
			}
			if changed {
				if out == nil {
					out = slices.Clone(list)
				}
				out[i] = ne
			}
		}
		if out != nil {
			return out, true
		}
		return v, false
	}
	if v == nil {
		return v, false
	}
	ti := c.s.types[r.name]
	if ti == nil {
		return v, false
	}
	switch ti.kind {
	case kindScalar:
		return c.scalar(ti.name, v, path)
	case kindEnum:
		s, ok := v.(string)
		if !ok {
			c.fail(path, v, "Enum %q cannot represent non-string value: %s.", ti.name, show(v))
			return v, false
		}
		if !slices.Contains(ti.enum, s) {
			c.fail(path, v, "Value %q does not exist in %q enum.", s, ti.name)
		}
		return v, false
	case kindInput:
		obj, ok := v.(map[string]any)
		if !ok {
			c.fail(path, v, "Expected type %q to be an object.", ti.name)
			return v, false
		}
		if k, ok := firstUnknown(obj, ti.inputs); ok {
			c.fail(path, v, "Field %q is not defined by type %q.", k, ti.name)
			return v, false
		}
		var out map[string]any
		for _, f := range ti.inputs {
			fv, given := obj[f.name]
			if !given {
				if !f.hasDefault && c.s.refs[f.typ].kind == refNonNull {
					c.fail(path, v, "Field %q of required type %q was not provided.", f.name, typeString(c.s.refs, f.typ))
					return v, false
				}
				continue
			}
			nv, changed := c.coerce(c.s.refs, f.typ, fv, path+"."+f.name)
			if c.problem != "" {
				return v, false
			}
			if changed {
				if out == nil {
					out = make(map[string]any, len(obj))
					for k, x := range obj {
						out[k] = x
					}
				}
				out[f.name] = nv
			}
		}
		if out != nil {
			return out, true
		}
		return v, false
	}
	return v, false // an output type: graphql-go's validation says so
}

func (c *coercion) scalar(name string, v any, path string) (any, bool) {
	n, isNumber := number(v)
	switch name {
	case "Int":
		switch {
		case !isNumber || n != math.Trunc(n):
			c.fail(path, v, "Int cannot represent non-integer value: %s", show(v))
		case n < math.MinInt32 || n > math.MaxInt32:
			c.fail(path, v, "Int cannot represent non 32-bit signed integer value: %s", show(v))
		}
	case "Float":
		if !isNumber || math.IsInf(n, 0) || math.IsNaN(n) {
			c.fail(path, v, "Float cannot represent non numeric value: %s", show(v))
		}
	case "String":
		if _, ok := v.(string); !ok {
			c.fail(path, v, "String cannot represent a non string value: %s", show(v))
		}
	case "Boolean":
		if _, ok := v.(bool); !ok {
			c.fail(path, v, "Boolean cannot represent a non boolean value: %s", show(v))
		}
	case "ID":
		if _, ok := v.(string); ok {
			return v, false
		}
		if !isNumber || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			c.fail(path, v, "ID cannot represent value: %s", show(v))
			return v, false
		}
		return strconv.FormatInt(int64(n), 10), true
	}
	return v, false
}

// number reads the numbers encoding/json and Go callers give.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// firstUnknown is the first key of obj, in sorted order, that is no field.
func firstUnknown(obj map[string]any, fields []inputField) (string, bool) {
	first, found := "", false
	for k := range obj {
		if slices.ContainsFunc(fields, func(f inputField) bool { return f.name == k }) {
			continue
		}
		if !found || k < first {
			first, found = k, true
		}
	}
	return first, found
}

// show is a value as JSON, cut short: it is the client's own input.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

func typeString(refs []typeRef, t int32) string {
	r := refs[t]
	switch r.kind {
	case refNonNull:
		return typeString(refs, r.of) + "!"
	case refList:
		return "[" + typeString(refs, r.of) + "]"
	}
	return r.name
}
