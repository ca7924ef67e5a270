package scaffold

import (
	"go/token"
	"regexp"
	"strings"
	"unicode"
)

// functionNameRE is a function's name: a Go package name and a topology
// name at once, so lower case letters and digits, starting with a letter.
var functionNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,39}$`)

// routeNameRE is topology's rule for route names.
var routeNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// attrRE is the attribute names the generator accepts: each becomes a Go
// field name. (DynamoDB allows more; declare those routes by hand.)
var attrRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// typeNameRE is an exported Go identifier.
var typeNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)

// predeclared are Go's predeclared identifiers: a package named after one
// would shadow it in every file that imports the package.
var predeclared = map[string]bool{
	"any": true, "append": true, "bool": true, "byte": true, "cap": true, "clear": true, "close": true,
	"comparable": true, "complex": true, "complex64": true, "complex128": true, "copy": true, "delete": true,
	"error": true, "false": true, "float32": true, "float64": true, "imag": true, "int": true, "int8": true,
	"int16": true, "int32": true, "int64": true, "iota": true, "len": true, "make": true, "max": true,
	"min": true, "new": true, "nil": true, "panic": true, "print": true, "println": true, "real": true,
	"recover": true, "rune": true, "string": true, "true": true, "uint": true, "uint8": true, "uint16": true,
	"uint32": true, "uint64": true, "uintptr": true,
}

// generatedImports are the package names the generated files import: a
// function package of the same name would clash with one of them.
var generatedImports = []string{"app", "apptest", "change", "consumer", "context", "errs", "main", "os", "testing"}

// initialisms are written in capitals in Go names (Go's own list, as
// linters apply it).
var initialisms = map[string]bool{
	"ACL": true, "API": true, "ASCII": true, "CPU": true, "CSS": true, "DNS": true, "EOF": true, "GUID": true,
	"HTML": true, "HTTP": true, "HTTPS": true, "ID": true, "IP": true, "JSON": true, "LHS": true, "QPS": true,
	"RAM": true, "RHS": true, "RPC": true, "SLA": true, "SMTP": true, "SQL": true, "SSH": true, "TCP": true,
	"TLS": true, "TTL": true, "UDP": true, "UI": true, "UID": true, "UUID": true, "URI": true, "URL": true,
	"UTF8": true, "VM": true, "XML": true, "XMPP": true, "XSRF": true, "XSS": true,
}

// words splits an attribute or table name into words: at dashes and
// underscores, and where a lower case letter or digit meets an upper case
// one ("roomId" is room, Id).
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = nil
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r == '-' || r == '_':
			flush()
			continue
		case unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])):
			flush()
		case unicode.IsUpper(r) && i > 0 && i+1 < len(rs) && unicode.IsUpper(rs[i-1]) && unicode.IsLower(rs[i+1]):
			// "HTTPServer": HTTP, Server.
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	return out
}

// goName is the exported Go name of an attribute: "roomId" is RoomID,
// "created_at" CreatedAt.
func goName(attr string) string {
	var b strings.Builder
	for _, w := range words(attr) {
		if up := strings.ToUpper(w); initialisms[up] {
			b.WriteString(up)
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + strings.ToLower(w[1:]))
	}
	return b.String()
}

// typeName is the item type of a table: the singular of its last word, so
// "orders" is Order, "order-items" OrderItem, "categories" Category.
func typeName(table string) string {
	ws := words(table)
	if len(ws) == 0 {
		return ""
	}
	ws[len(ws)-1] = singular(ws[len(ws)-1])
	return goName(strings.Join(ws, "-"))
}

func singular(w string) string {
	l := strings.ToLower(w)
	switch {
	case strings.HasSuffix(l, "ies") && len(l) > 4:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(l, "sses"), strings.HasSuffix(l, "shes"), strings.HasSuffix(l, "ches"),
		strings.HasSuffix(l, "xes"), strings.HasSuffix(l, "zes"):
		return w[:len(w)-2]
	case strings.HasSuffix(l, "ss"), strings.HasSuffix(l, "us"), strings.HasSuffix(l, "is"):
		return w
	case strings.HasSuffix(l, "s") && len(l) > 3:
		return w[:len(w)-1]
	}
	return w
}

// isKeyword reports a Go keyword.
func isKeyword(s string) bool { return token.Lookup(s).IsKeyword() }
