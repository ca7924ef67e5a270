package cfn

import (
	"fmt"
	"sort"
)

// Statement is one statement of an IAM policy document.
type Statement struct {
	// Policy is the logical id of the resource holding the statement: an
	// AWS::IAM::Policy or AWS::IAM::ManagedPolicy, or the role itself for
	// its inline policies.
	Policy string
	// Index is the statement's position in its policy document.
	Index  int
	Sid    string
	Effect string
	// Action and NotAction are the actions, such as "sqs:SendMessage".
	Action, NotAction []string
	// Resource and NotResource are unresolved (see Resolver.ResolveList).
	Resource, NotResource any
	Condition             map[string]any
}

// RoleStatements lists the statements of every policy of role id: the
// role's inline Policies, then every AWS::IAM::Policy and
// AWS::IAM::ManagedPolicy whose Roles name it, by logical id. Managed
// policies attached by ARN (ManagedPolicyArns) are not included: see
// RoleManagedPolicyARNs.
func (t *Template) RoleStatements(role string) ([]Statement, error) {
	r, ok := t.Resources[role]
	if !ok || r.Type != TypeRole {
		return nil, fmt.Errorf("cfn: no %s %q", TypeRole, role)
	}
	var out []Statement
	for _, p := range list(r.Properties["Policies"]) {
		st, err := statements(role, path(p, "PolicyDocument"))
		if err != nil {
			return nil, err
		}
		out = append(out, st...)
	}
	var ids []string
	ids = append(ids, t.OfType(TypePolicy)...)
	ids = append(ids, t.OfType(TypeManagedPolicy)...)
	sort.Strings(ids)
	for _, id := range ids {
		p := t.Resources[id].Properties
		attached := false
		for _, ref := range list(p["Roles"]) {
			if target, _, ok := Target(ref); ok && target == role {
				attached = true
			}
		}
		if !attached {
			continue
		}
		st, err := statements(id, p["PolicyDocument"])
		if err != nil {
			return nil, err
		}
		out = append(out, st...)
	}
	return out, nil
}

// RoleManagedPolicyARNs lists the role's ManagedPolicyArns, unresolved.
func (t *Template) RoleManagedPolicyARNs(role string) []any {
	return list(t.Resources[role].Properties["ManagedPolicyArns"])
}

func statements(policy string, doc any) ([]Statement, error) {
	raw := list(path(doc, "Statement"))
	out := make([]Statement, 0, len(raw))
	for i, s := range raw {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("cfn: policy %s: statement %d is not an object", policy, i)
		}
		st := Statement{Policy: policy, Index: i, Resource: m["Resource"], NotResource: m["NotResource"]}
		st.Sid, _ = m["Sid"].(string)
		st.Effect, _ = m["Effect"].(string)
		st.Condition, _ = m["Condition"].(map[string]any)
		var err error
		if st.Action, err = stringList(policy, i, m["Action"]); err != nil {
			return nil, err
		}
		if st.NotAction, err = stringList(policy, i, m["NotAction"]); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func stringList(policy string, i int, v any) ([]string, error) {
	var out []string
	for _, a := range list(v) {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("cfn: policy %s: statement %d: action %v is not a string", policy, i, a)
		}
		out = append(out, s)
	}
	return out, nil
}
