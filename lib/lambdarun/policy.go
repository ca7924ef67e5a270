package lambdarun

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// resourceChecked are the services whose requests moto (5.2) authorizes
// against a resource: for every other service it asks whether a statement
// allows the action on "*", which a statement scoped to resources never
// does.
var resourceChecked = map[string]bool{"sqs": true, "iam": true, "sts": true, "s3": true}

// batchAliases are the batch and transaction APIs AWS authorizes with the
// permission of the single action (the SQS API reference: "the permission
// for SendMessageBatch is sqs:SendMessage"; DynamoDB authorizes each item
// of a TransactWriteItems with its PutItem, UpdateItem, DeleteItem or
// ConditionCheckItem action). moto checks the API's own name, so a user
// allowed the single action is also allowed its batch.
var batchAliases = map[string]string{
	"sqs:sendmessage":             "sqs:SendMessageBatch",
	"sqs:deletemessage":           "sqs:DeleteMessageBatch",
	"sqs:changemessagevisibility": "sqs:ChangeMessageVisibilityBatch",
	"dynamodb:putitem":            "dynamodb:TransactWriteItems",
	"dynamodb:updateitem":         "dynamodb:TransactWriteItems",
	"dynamodb:deleteitem":         "dynamodb:TransactWriteItems",
	"dynamodb:conditioncheckitem": "dynamodb:TransactWriteItems",
}

// EmulatorPolicy is the policy document of the emulator user standing for
// a role with these statements: the same actions, with two translations
// for moto. A statement's resources are kept for the services moto checks
// resources of (SQS among them) and widened to "*" for the others
// (DynamoDB, EventBridge...), where moto would match no resource at all;
// each widening is listed in notes, and resource scoping there stays
// the template tests' to check. The batch APIs are allowed with their
// single action. execute-api actions are left out: the Management API is
// not the emulator's (see AuthorizeManagement). So is iam:PassRole, which
// no API call is authorized as (the receiving service checks it; moto does
// not), with its condition. An Allow whose only condition narrows it to
// DynamoDB partitions (dynamodb:LeadingKeys) is widened without it; other
// Conditions, NotAction and NotResource are refused: moto cannot evaluate
// them as AWS does. Widened and left out statements are listed in notes.
func EmulatorPolicy(stmts []Statement) (doc string, notes []string, err error) {
	var widened, skipped []string
	type out struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	var doneStmts []out
	var errs []error
	for _, s := range stmts {
		switch {
		case len(s.Condition) > 0 && passRoleOnly(s.Action):
			// No API call is authorized as iam:PassRole: the service the
			// role is passed to checks it, which moto does not do.
			skipped = append(skipped, fmt.Sprintf("%s: iam:PassRole (checked by the receiving service, not by the emulator)", s.Source))
			continue
		case len(s.Condition) > 0 && s.Effect == "Allow" && leadingKeysOnly(s.Condition) && len(s.NotAction) == 0 && len(s.NotResource) == 0:
			// A condition that only narrows an Allow to some DynamoDB
			// partitions: dropped, which widens the grant as the
			// resources are (the template tests check it).
			widened = append(widened, fmt.Sprintf("%s: its condition on dynamodb:LeadingKeys", s.Source))
			s.Condition = nil
		case len(s.Condition) > 0 || len(s.NotAction) > 0 || len(s.NotResource) > 0:
			errs = append(errs, fmt.Errorf("statement %s: Condition, NotAction and NotResource cannot be checked on the emulator", s.Source))
			continue
		case s.Effect != "Allow" && s.Effect != "Deny":
			errs = append(errs, fmt.Errorf("statement %s: effect %q", s.Source, s.Effect))
			continue
		}
		byService := map[string][]string{}
		for _, a := range s.Action {
			svc, _, _ := strings.Cut(a, ":")
			svc = strings.ToLower(svc)
			byService[svc] = append(byService[svc], a)
			if alias, ok := batchAliases[strings.ToLower(a)]; ok && !slices.Contains(byService[svc], alias) {
				byService[svc] = append(byService[svc], alias)
			}
		}
		services := make([]string, 0, len(byService))
		for svc := range byService {
			// The Management API is API Gateway's, never the emulator's:
			// AuthorizeManagement checks those actions.
			if svc != "execute-api" {
				services = append(services, svc)
			}
		}
		sort.Strings(services)
		for _, svc := range services {
			actions := byService[svc]
			res := s.Resource
			if !resourceChecked[svc] && !(len(res) == 1 && res[0] == "*") {
				if s.Effect == "Deny" {
					errs = append(errs, fmt.Errorf("statement %s: a Deny of %s actions scoped to resources cannot be checked on the emulator", s.Source, svc))
					continue
				}
				widened = append(widened, fmt.Sprintf("%s: %d %s actions on %d resources", s.Source, len(actions), svc, len(res)))
				res = []string{"*"}
			}
			doneStmts = append(doneStmts, out{Effect: s.Effect, Action: actions, Resource: res})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", nil, fmt.Errorf("lambdarun: emulator policy: %w", err)
	}
	if len(doneStmts) == 0 {
		// IAM refuses an empty statement list; this one allows nothing.
		doneStmts = append(doneStmts, out{Effect: "Deny", Action: []string{"*"}, Resource: []string{"*"}})
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": doneStmts})
	return string(b), append(widened, skipped...), err
}

// leadingKeysOnly reports whether a condition tests dynamodb:LeadingKeys
// and nothing else.
func leadingKeysOnly(cond map[string]any) bool {
	for _, keys := range cond {
		m, ok := keys.(map[string]any)
		if !ok || len(m) != 1 {
			return false
		}
		if _, ok := m["dynamodb:LeadingKeys"]; !ok {
			return false
		}
	}
	return true
}

func passRoleOnly(actions []string) bool {
	for _, a := range actions {
		if !strings.EqualFold(a, "iam:PassRole") {
			return false
		}
	}
	return len(actions) > 0
}

// Allowed evaluates statements as IAM does for one action on one
// resource: allowed when a statement allows it and none denies it. Action
// names match case-insensitively, resources case-sensitively; both take
// the wildcards * and ?. A statement with a Condition never applies (this
// evaluator has no request context to test it with), so it never allows.
func Allowed(stmts []Statement, action, resource string) bool {
	allowed := false
	for _, s := range stmts {
		if len(s.Condition) > 0 || !s.matches(action, resource) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allowed = allowed || s.Effect == "Allow"
	}
	return allowed
}

func (s Statement) matches(action, resource string) bool {
	actionOK := false
	if len(s.NotAction) > 0 {
		actionOK = !anyMatch(s.NotAction, action, true)
	} else {
		actionOK = anyMatch(s.Action, action, true)
	}
	if !actionOK {
		return false
	}
	if len(s.NotResource) > 0 {
		return !anyMatch(s.NotResource, resource, false)
	}
	return anyMatch(s.Resource, resource, false)
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			if wildcard(strings.ToLower(p), strings.ToLower(s)) {
				return true
			}
		} else if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches s against p, where * is any run and ? any one character.
func wildcard(p, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}
