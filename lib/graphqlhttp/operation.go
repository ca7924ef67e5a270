package graphqlhttp

// opKind is the type of the operation a request selects.
type opKind uint8

const (
	opUnknown opKind = iota // the document does not parse or select one operation
	opQuery
	opMutation
	opSubscription
)

func (k opKind) String() string {
	switch k {
	case opQuery:
		return "query"
	case opMutation:
		return "mutation"
	case opSubscription:
		return "subscription"
	}
	return ""
}

// docInfo is what the handler must know about a document before running
// it: the type and name of the operation it selects (to keep mutations off
// GET and subscriptions off HTTP) and whether it asks for introspection.
type docInfo struct {
	kind          opKind
	name          string // the selected operation's name, a substring of the query
	introspection bool
}

type opDef struct {
	kind opKind
	name string
}

// scanDocument lexes an executable GraphQL document just enough to find
// its top-level operation definitions, without building a syntax tree or
// allocating. Anything it cannot follow makes it report opUnknown: the
// document does not parse, or does not select exactly one operation, or
// uses a token the scanner does not know. The handler never runs an
// opUnknown document over GET. A fuzz test holds the scanner to
// graphql-go's own choice of operation.
func scanDocument(q, operationName string) docInfo {
	var (
		info    docInfo
		buf     [8]opDef
		ops     = buf[:0]
		depth   int
		between = true // at depth 0 between definitions
		named   = -1   // index in ops of an operation whose name may follow
	)
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
			continue
		case c == 0xEF && i+2 < n && q[i+1] == 0xBB && q[i+2] == 0xBF: // byte order mark
			i += 3
			continue
		case c == '#':
			for i < n && q[i] != '\n' && q[i] != '\r' {
				i++
			}
			continue
		case c == '"':
			j, ok := skipString(q, i)
			if !ok {
				return docInfo{}
			}
			i = j
		case c == '{' || c == '(' || c == '[':
			if c == '{' && depth == 0 && between {
				ops = append(ops, opDef{kind: opQuery})
			}
			depth++
			between = false
			i++
		case c == '}' || c == ')' || c == ']':
			depth--
			if depth < 0 {
				return docInfo{}
			}
			if depth == 0 && c == '}' {
				between = true
			}
			i++
		case isNameStart(c):
			j := i + 1
			for j < n && isNameContinue(q[j]) {
				j++
			}
			name := q[i:j]
			i = j
			if depth == 0 {
				if between {
					switch name {
					case "query":
						ops = append(ops, opDef{kind: opQuery})
					case "mutation":
						ops = append(ops, opDef{kind: opMutation})
					case "subscription":
						ops = append(ops, opDef{kind: opSubscription})
					case "fragment":
					default:
						return docInfo{} // not an executable definition
					}
					between = false
					if name != "fragment" {
						named = len(ops) - 1
						continue // keep named set for the next token
					}
				} else if named >= 0 {
					ops[named].name = name
				}
			} else if name == "__schema" || name == "__type" {
				info.introspection = true
			}
		case c == '.' && i+1 < n && q[i+1] >= '0' && q[i+1] <= '9':
			// text/scanner, graphql-go's lexer, reads .5 as a float.
			i++
			for i < n && (q[i] >= '0' && q[i] <= '9' || q[i] == 'e' || q[i] == 'E' || q[i] == '+' || q[i] == '-') {
				i++
			}
		case c == '.':
			if i+2 >= n || q[i+1] != '.' || q[i+2] != '.' {
				return docInfo{}
			}
			i += 3
		case c == '-' || (c >= '0' && c <= '9'):
			i++
			for i < n && (q[i] >= '0' && q[i] <= '9' || q[i] == '.' || q[i] == 'e' || q[i] == 'E' || q[i] == '+' || q[i] == '-') {
				i++
			}
		case c == '$' || c == '@' || c == ':' || c == '=' || c == '!' || c == '|' || c == '&':
			i++
		default:
			return docInfo{}
		}
		named = -1
	}
	if depth != 0 {
		return docInfo{}
	}
	if operationName == "" {
		if len(ops) == 1 {
			info.kind, info.name = ops[0].kind, ops[0].name
		}
		return info
	}
	// Several operations with the name fail validation; take the most
	// dangerous kind so GET can never be tricked into a mutation.
	for _, op := range ops {
		if op.name == operationName && op.kind > info.kind {
			info.kind, info.name = op.kind, op.name
		}
	}
	return info
}

// skipString returns the index just after the string that starts at q[i].
// It tokenizes as graphql-go's lexer (text/scanner) does, not as the
// GraphQL specification does: graphql-go has no block strings in
// executable documents and reads """ as an empty string followed by the
// start of another. Agreeing with graphql-go is what matters here: the
// scanner must find the operations graphql-go will find.
func skipString(q string, i int) (int, bool) {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		case '\n':
			return 0, false
		}
	}
	return 0, false
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameContinue(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9'
}
