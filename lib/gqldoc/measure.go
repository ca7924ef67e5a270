package gqldoc

// The cost model. An estimate of the work an operation asks for, computed
// from the document and the schema before anything runs:
//
//   - a field of a scalar or enum type (and __typename) costs 0;
//   - a field of an object, interface or union type costs 1 plus the cost
//     of what it selects;
//   - a list field costs ListSize times (1 plus the cost of what it
//     selects), and ListSize again for each further list level;
//   - each root field of a mutation costs MutationFieldCost more: it writes;
//   - fragments cost what they select, each time they are spread; aliases
//     count as the separate fields they are.
//
// So { restaurants { id name menu { id name } } } costs 10 × (1 + 10 × 1)
// = 110, and 450 aliases of { restaurants { id } } cost 4,500.
// Introspection (__schema and __type at the root of a query, and what
// they select) costs nothing and adds no depth: it describes the schema,
// whose size bounds it; IntrospectionLists measures it instead.
const (
	ListSize          = 10
	MutationFieldCost = 10
)

// costCap keeps cost arithmetic far from overflow; no limit is near it.
const costCap = 1 << 40

// Figures are what an operation would cost, measured before it runs.
type Figures struct {
	// Depth is how deeply fields nest: 1 for root fields, fragments
	// adding nothing, introspection not counted.
	Depth int
	// Cost is the estimate of the work (see ListSize).
	Cost int
	// Introspection reports __schema or __type among the fields.
	Introspection bool
	// IntrospectionLists is how many list fields (types, fields, args...)
	// nest within introspection: 3 for graphql-js's introspection query.
	IntrospectionLists int
}

type measure struct {
	depth  int
	cost   int64
	fields int64 // fields at the top level, fragments expanded
	ilists int
	intro  bool
}

func (m *measure) merge(o measure) {
	m.depth = max(m.depth, o.depth)
	m.cost = min(m.cost+o.cost, costCap)
	m.fields = min(m.fields+o.fields, costCap)
	m.ilists = max(m.ilists, o.ilists)
	m.intro = m.intro || o.intro
}

type fragMemo struct {
	state uint8 // 0 not measured, 1 being measured, 2 measured
	m     measure
}

// Measure computes op's Figures against s. It also reports, as an *Error
// of kind Invalid, what would keep op from running that graphql-go would
// not report as plainly: a spread of an unknown fragment, fragments that
// spread each other in a cycle, and a literal graphql-go parses but cannot
// decode (1_000, 0x1F, "\400", -"a").
func (s *Schema) Measure(op Operation) (Figures, error) {
	d := op.doc
	n := 2 * len(d.defs)
	if cap(d.memo) < n {
		d.memo = make([]fragMemo, n)
	}
	d.memo = d.memo[:n]
	clear(d.memo)
	def := &d.defs[op.def]
	for i := def.vars; i < def.vars+def.nvars; i++ {
		if dv := d.vars[i].def; dv >= 0 {
			if err := d.checkValue(dv); err != nil {
				return Figures{}, err
			}
		}
	}
	if err := d.checkDirectives(def.dirs); err != nil {
		return Figures{}, err
	}
	m, err := s.walk(d, def.sels, s.root(op.Kind), false)
	if err != nil {
		return Figures{}, err
	}
	if op.Kind == Mutation {
		m.cost = min(m.cost+MutationFieldCost*m.fields, costCap)
	}
	return Figures{Depth: m.depth, Cost: int(m.cost), Introspection: m.intro, IntrospectionLists: m.ilists}, nil
}

func (s *Schema) walk(d *Document, first int32, parent *typeInfo, inIntro bool) (measure, error) {
	var m measure
	for i := first; i >= 0; i = d.sels[i].next {
		sel := &d.sels[i]
		if err := d.checkDirectives(sel.dirs); err != nil {
			return m, err
		}
		switch sel.kind {
		case selField:
			if err := d.checkArgs(sel.args); err != nil {
				return m, err
			}
			if sel.name == "__typename" {
				m.depth = max(m.depth, 1)
				continue
			}
			m.fields++
			if sel.name == "__schema" || sel.name == "__type" {
				m.intro = true
				if !inIntro && parent != nil && parent == s.query {
					meta := s.metaSchema
					if sel.name == "__type" {
						meta = s.metaType
					}
					c, err := s.walk(d, sel.child, meta, true)
					if err != nil {
						return m, err
					}
					m.ilists = max(m.ilists, c.ilists)
					continue
				}
			}
			var f fieldInfo
			known := false
			if parent != nil {
				f, known = parent.field(sel.name)
			}
			c, err := s.walk(d, sel.child, f.typ, inIntro)
			if err != nil {
				return m, err
			}
			m.depth = max(m.depth, 1+c.depth)
			m.intro = m.intro || c.intro
			m.cost = min(m.cost+fieldCost(f, known, c.cost), costCap)
			if inIntro {
				l := c.ilists
				if f.lists > 0 {
					l++
				}
				m.ilists = max(m.ilists, l)
			}
		case selSpread:
			if sel.frag < 0 {
				return m, d.invalid(sel.pos, "unknown fragment %q", sel.name)
			}
			c, err := s.fragment(d, sel.frag, inIntro)
			if err != nil {
				return m, err
			}
			m.merge(c)
		case selInline:
			t := parent
			if sel.name != "" {
				t = s.types[sel.name]
			}
			c, err := s.walk(d, sel.child, t, inIntro)
			if err != nil {
				return m, err
			}
			m.merge(c)
		}
	}
	return m, nil
}

// fragment measures a fragment once per document (twice when it is also
// spread within introspection).
func (s *Schema) fragment(d *Document, f int32, inIntro bool) (measure, error) {
	slot := 2 * int(f)
	if inIntro {
		slot++
	}
	memo := &d.memo[slot]
	switch memo.state {
	case 1:
		return measure{}, d.invalid(d.defs[f].pos, "fragment %q spreads itself", d.defs[f].name)
	case 2:
		return memo.m, nil
	}
	memo.state = 1
	def := &d.defs[f]
	if err := d.checkDirectives(def.dirs); err != nil {
		return measure{}, err
	}
	m, err := s.walk(d, def.sels, s.types[def.on], inIntro)
	if err != nil {
		return measure{}, err
	}
	memo = &d.memo[slot]
	memo.state, memo.m = 2, m
	return m, nil
}

func fieldCost(f fieldInfo, known bool, children int64) int64 {
	switch {
	case f.lists > 0:
		c := min(1+children, costCap)
		for range f.lists {
			c = min(c*ListSize, costCap)
		}
		return c
	case known && f.typ != nil && (f.typ.kind == kindScalar || f.typ.kind == kindEnum):
		return 0
	}
	return min(1+children, costCap)
}

func (d *Document) checkArgs(first int32) error {
	for a := first; a >= 0; a = d.args[a].next {
		if err := d.checkValue(d.args[a].value); err != nil {
			return err
		}
	}
	return nil
}

func (d *Document) checkDirectives(first int32) error {
	for i := first; i >= 0; i = d.dirs[i].next {
		if err := d.checkArgs(d.dirs[i].args); err != nil {
			return err
		}
	}
	return nil
}

func (d *Document) checkValue(i int32) error {
	v := &d.vals[i]
	if v.kind == vList || v.kind == vObject {
		for e := v.child; e >= 0; e = d.vals[e].next {
			if err := d.checkValue(e); err != nil {
				return err
			}
		}
		return nil
	}
	if err := d.checkLiteral(v); err != nil {
		return err
	}
	return nil
}
