package errs_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/errs"
)

func TestCodesMessagesAndPermanence(t *testing.T) {
	cause := errors.New("dynamodb: throttled at 10.0.0.1")
	for _, tc := range []struct {
		name      string
		err       error
		code      errs.Code
		message   string
		permanent bool
	}{
		{"client error", errs.New(errs.BadUserInput, "items must not be empty"), errs.BadUserInput, "items must not be empty", true},
		{"not found", errs.Newf(errs.NotFound, "restaurant %q not found", "r9"), errs.NotFound, `restaurant "r9" not found`, true},
		{"transient", errs.Wrap(errs.Unavailable, "try again", cause), errs.Unavailable, "try again", false},
		{"wrapped twice", fmt.Errorf("pay order o1: %w", errs.New(errs.FailedPrecondition, "order is not VALIDATED")), errs.FailedPrecondition, "order is not VALIDATED", true},
		{"plain error", cause, errs.InternalServerError, "internal error", false},
		{"marked permanent", errs.Permanent(cause), errs.FailedPrecondition, "permanent failure", true},
		{"nil stays nil", errs.Permanent(nil), errs.InternalServerError, "internal error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errs.CodeOf(tc.err); got != tc.code {
				t.Errorf("code %s, want %s", got, tc.code)
			}
			if got := errs.MessageOf(tc.err); got != tc.message {
				t.Errorf("message %q, want %q", got, tc.message)
			}
			if got := errs.IsPermanent(tc.err); got != tc.permanent {
				t.Errorf("permanent %v, want %v", got, tc.permanent)
			}
		})
	}
}

func TestWrapKeepsCauseForErrorsIs(t *testing.T) {
	cause := errors.New("boom")
	err := fmt.Errorf("charge: %w", errs.Permanent(cause))
	if !errors.Is(err, cause) {
		t.Fatal("errors.Is lost the cause")
	}
}

// TestCodeNamesReadAsTheWire holds every Code constant to the rule that
// its Go name is its wire name in CamelCase, read from the source so a
// new code cannot slip by.
func TestCodeNamesReadAsTheWire(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errs.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				wire, _ := strconv.Unquote(lit.Value)
				if strings.ToUpper(name.Name) != strings.ReplaceAll(wire, "_", "") {
					t.Errorf("errs.%s is %q on the wire: name it after the wire code", name.Name, wire)
				}
				if prev, dup := seen[wire]; dup {
					t.Errorf("errs.%s and errs.%s are both %q", prev, name.Name, wire)
				}
				seen[wire] = name.Name
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("found only %d codes in errs.go", len(seen))
	}
}
