package gqldoc

import (
	"github.com/graph-gophers/graphql-go/ast"
)

// Schema is what the analyses need of a schema: the type of each field
// (for depth and cost) and the input types (to coerce variables). Build it
// once per schema with NewSchema; it is safe for concurrent use.
type Schema struct {
	types                         map[string]*typeInfo
	query, mutation, subscription *typeInfo
	// The introspection types __schema and __type return.
	metaSchema, metaType *typeInfo
	// refs holds the types of input object fields.
	refs []typeRef
}

type typeKind uint8

const (
	kindScalar typeKind = iota
	kindEnum
	kindOutput // object, interface or union
	kindInput
)

type typeInfo struct {
	name string
	kind typeKind
	// fields: few in a slice (searched faster than a map is hashed),
	// many in a map.
	fields []namedField
	byName map[string]fieldInfo
	inputs []inputField
	enum   []string
}

type namedField struct {
	name string
	fieldInfo
}

// fewFields is how many fields a slice holds before a map does.
const fewFields = 8

func (t *typeInfo) field(name string) (fieldInfo, bool) {
	if t.byName != nil {
		f, ok := t.byName[name]
		return f, ok
	}
	for i := range t.fields {
		if t.fields[i].name == name {
			return t.fields[i].fieldInfo, true
		}
	}
	return fieldInfo{}, false
}

type fieldInfo struct {
	lists int // list wrappers around the field's type
	typ   *typeInfo
}

type inputField struct {
	name       string
	typ        int32 // in Schema.refs
	hasDefault bool
}

// NewSchema reads s, a parsed graphql-go schema (graphql.Schema.AST()).
func NewSchema(s *ast.Schema) *Schema {
	out := &Schema{types: make(map[string]*typeInfo, len(s.Types))}
	for name, t := range s.Types {
		ti := &typeInfo{name: name}
		switch t := t.(type) {
		case *ast.ScalarTypeDefinition:
			ti.kind = kindScalar
		case *ast.EnumTypeDefinition:
			ti.kind = kindEnum
			for _, v := range t.EnumValuesDefinition {
				ti.enum = append(ti.enum, v.EnumValue)
			}
		case *ast.InputObject:
			ti.kind = kindInput
		default:
			ti.kind = kindOutput
		}
		out.types[name] = ti
	}
	for name, t := range s.Types {
		ti := out.types[name]
		var fields ast.FieldsDefinition
		switch t := t.(type) {
		case *ast.ObjectTypeDefinition:
			fields = t.Fields
		case *ast.InterfaceTypeDefinition:
			fields = t.Fields
		case *ast.InputObject:
			for _, v := range t.Values {
				ti.inputs = append(ti.inputs, inputField{name: v.Name.Name, typ: out.ref(v.Type), hasDefault: v.Default != nil})
			}
		}
		for _, f := range fields {
			lists, named := unwrap(f.Type)
			ti.fields = append(ti.fields, namedField{f.Name, fieldInfo{lists: lists, typ: out.types[named]}})
		}
		if len(ti.fields) > fewFields {
			ti.byName = make(map[string]fieldInfo, len(ti.fields))
			for _, f := range ti.fields {
				ti.byName[f.name] = f.fieldInfo
			}
		}
	}
	root := func(op string) *typeInfo {
		if t, ok := s.RootOperationTypes[op]; ok {
			return out.types[t.TypeName()]
		}
		return nil
	}
	out.query, out.mutation, out.subscription = root("query"), root("mutation"), root("subscription")
	out.metaSchema, out.metaType = out.types["__Schema"], out.types["__Type"]
	return out
}

// unwrap counts the list wrappers of t and names the type they wrap.
func unwrap(t ast.Type) (lists int, name string) {
	for {
		switch x := t.(type) {
		case *ast.NonNull:
			t = x.OfType
		case *ast.List:
			lists++
			t = x.OfType
		case *ast.TypeName:
			return lists, x.Name
		case ast.NamedType:
			return lists, x.TypeName()
		default:
			return lists, ""
		}
	}
}

func (s *Schema) ref(t ast.Type) int32 {
	var r typeRef
	switch x := t.(type) {
	case *ast.NonNull:
		r = typeRef{kind: refNonNull, of: s.ref(x.OfType)}
	case *ast.List:
		r = typeRef{kind: refList, of: s.ref(x.OfType)}
	case *ast.TypeName:
		r = typeRef{kind: refNamed, name: x.Name, of: -1}
	case ast.NamedType:
		r = typeRef{kind: refNamed, name: x.TypeName(), of: -1}
	}
	s.refs = append(s.refs, r)
	return int32(len(s.refs) - 1)
}

func (s *Schema) root(k Kind) *typeInfo {
	switch k {
	case Query:
		return s.query
	case Mutation:
		return s.mutation
	case Subscription:
		return s.subscription
	}
	return nil
}
