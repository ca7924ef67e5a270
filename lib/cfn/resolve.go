package cfn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Resolver evaluates the intrinsic functions CDK emits (Ref, Fn::GetAtt,
// Fn::Join, Fn::Sub, Fn::Select, Fn::Split) to strings, with the values
// the caller binds to logical ids: the names, ARNs and URLs of the
// resources that stand in for the template's somewhere else (an emulator).
type Resolver struct {
	// Template names the types of unbound resources in errors; optional.
	Template *Template
	// The pseudo parameters AWS::Region, AWS::AccountId, AWS::Partition
	// (default "aws"), AWS::URLSuffix (default "amazonaws.com") and
	// AWS::StackName.
	Region, AccountID, Partition, URLSuffix, StackName string

	refs  map[string]string
	attrs map[string]map[string]string
}

// Bind sets what Ref id resolves to ("" leaves Ref unbound) and the
// values of its attributes for Fn::GetAtt.
func (r *Resolver) Bind(id, ref string, attrs map[string]string) {
	if r.refs == nil {
		r.refs, r.attrs = map[string]string{}, map[string]map[string]string{}
	}
	if ref != "" {
		r.refs[id] = ref
	}
	if r.attrs[id] == nil {
		r.attrs[id] = map[string]string{}
	}
	for k, v := range attrs {
		r.attrs[id][k] = v
	}
}

// Bound reports whether id has a value bound (for Ref or an attribute).
func (r *Resolver) Bound(id string) bool {
	_, ref := r.refs[id]
	return ref || len(r.attrs[id]) > 0
}

// UnboundError says a value refers to a resource the resolver has no
// value for.
type UnboundError struct {
	ID, Attr, Type string
}

func (e *UnboundError) Error() string {
	what := "Ref " + e.ID
	if e.Attr != "" {
		what = "Fn::GetAtt " + e.ID + "." + e.Attr
	}
	if e.Type != "" {
		what += " (" + e.Type + ")"
	}
	return "no value for " + what
}

// Resolve evaluates v to a string.
func (r *Resolver) Resolve(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64, bool:
		return fmt.Sprint(x), nil
	case map[string]any:
		if len(x) != 1 {
			return "", fmt.Errorf("cfn: cannot resolve an object with %d keys to a string", len(x))
		}
		for fn, arg := range x {
			return r.call(fn, arg)
		}
	}
	return "", fmt.Errorf("cfn: cannot resolve %T to a string", v)
}

// ResolveList evaluates v, a list or a single value, to strings.
func (r *Resolver) ResolveList(v any) ([]string, error) {
	if m, ok := v.(map[string]any); ok {
		if arg, ok := m["Fn::Split"]; ok && len(m) == 1 {
			return r.split(arg)
		}
	}
	var out []string
	var errs []error
	for _, e := range list(v) {
		s, err := r.Resolve(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func (r *Resolver) call(fn string, arg any) (string, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return r.ref(name)
	case "Fn::GetAtt":
		id, attr, ok := Target(map[string]any{fn: arg})
		if !ok {
			return "", fmt.Errorf("cfn: malformed Fn::GetAtt %v", arg)
		}
		return r.getAtt(id, attr)
	case "Fn::Join":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return "", fmt.Errorf("cfn: malformed Fn::Join %v", arg)
		}
		sep, _ := l[0].(string)
		parts, err := r.ResolveList(l[1])
		if err != nil {
			return "", err
		}
		return strings.Join(parts, sep), nil
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Select":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return "", fmt.Errorf("cfn: malformed Fn::Select %v", arg)
		}
		i, ok := number(l[0])
		if !ok {
			s, err := r.Resolve(l[0])
			if err != nil {
				return "", err
			}
			if i, ok = number(s); !ok {
				return "", fmt.Errorf("cfn: Fn::Select index %q", s)
			}
		}
		items, err := r.ResolveList(l[1])
		if err != nil {
			return "", err
		}
		if i < 0 || i >= len(items) {
			return "", fmt.Errorf("cfn: Fn::Select index %d of %d items", i, len(items))
		}
		return items[i], nil
	}
	return "", fmt.Errorf("cfn: %s is not supported", fn)
}

func (r *Resolver) split(arg any) ([]string, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 2 {
		return nil, fmt.Errorf("cfn: malformed Fn::Split %v", arg)
	}
	sep, _ := l[0].(string)
	s, err := r.Resolve(l[1])
	if err != nil {
		return nil, err
	}
	return strings.Split(s, sep), nil
}

func (r *Resolver) ref(name string) (string, error) {
	switch name {
	case "AWS::Region":
		return r.Region, nil
	case "AWS::AccountId":
		return r.AccountID, nil
	case "AWS::Partition":
		return or(r.Partition, "aws"), nil
	case "AWS::URLSuffix":
		return or(r.URLSuffix, "amazonaws.com"), nil
	case "AWS::StackName":
		return r.StackName, nil
	case "AWS::NoValue":
		return "", nil
	}
	if v, ok := r.refs[name]; ok {
		return v, nil
	}
	return "", &UnboundError{ID: name, Type: r.typeOf(name)}
}

func (r *Resolver) getAtt(id, attr string) (string, error) {
	if v, ok := r.attrs[id][attr]; ok {
		return v, nil
	}
	return "", &UnboundError{ID: id, Attr: attr, Type: r.typeOf(id)}
}

func (r *Resolver) typeOf(id string) string {
	if r.Template == nil {
		return ""
	}
	return r.Template.Type(id)
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func subVars(s string) []string {
	var out []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func (r *Resolver) sub(arg any) (string, error) {
	s, _ := arg.(string)
	vars := map[string]any{}
	if l, ok := arg.([]any); ok && len(l) == 2 {
		s, _ = l[0].(string)
		vars, _ = l[1].(map[string]any)
	}
	var errs []error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		var v string
		var err error
		switch val, ok := vars[name]; {
		case ok:
			v, err = r.Resolve(val)
		case strings.Contains(name, ".") && !isPseudo(name):
			id, attr, _ := strings.Cut(name, ".")
			v, err = r.getAtt(id, attr)
		default:
			v, err = r.ref(name)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return v
	})
	// ${!Literal} stands for ${Literal}.
	out = strings.ReplaceAll(out, "${!", "${")
	return out, errors.Join(errs...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
