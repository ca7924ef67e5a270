package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/threefactor/framework/lib/topology"
)

// DefaultGroupsClaim is the claim a Cognito user pool puts a user's
// groups in.
const DefaultGroupsClaim = "cognito:groups"

// Identity is a verified caller.
type Identity struct {
	// Subject is the caller's stable id: the token's sub claim.
	Subject string `json:"sub"`
	// Issuer is the token's iss claim.
	Issuer string `json:"iss"`
	// Expires is when the token stops being valid (its exp claim); the
	// zero time when it has none.
	Expires time.Time `json:"exp"`
	// Groups are the caller's groups, from the groups claim.
	Groups []string `json:"groups,omitempty"`
	// Claims are every claim of the token, flat, rendered as API
	// Gateway's JWT authorizer hands them to a Lambda: strings as they
	// are, numbers as written, arrays as "[a b]".
	Claims map[string]string `json:"claims,omitempty"`
}

// Claim is the value of a claim, or "".
func (id Identity) Claim(name string) string { return id.Claims[name] }

// InGroup reports whether the caller is in group g.
func (id Identity) InGroup(g string) bool { return slices.Contains(id.Groups, g) }

// Expired reports whether the identity's token has expired at now.
func (id Identity) Expired(now time.Time) bool {
	return !id.Expires.IsZero() && !now.Before(id.Expires)
}

type ctxKey struct{}

// With returns ctx carrying id: the caller of the request, message or
// operation ctx belongs to.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From is the caller ctx carries; false when it carries none (nobody was
// authenticated). Resolvers and functions read the caller only here.
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Mapping reads an Identity from claims. Its zero value reads groups from
// DefaultGroupsClaim.
type Mapping struct {
	// GroupsClaim names the claim holding the caller's groups.
	GroupsClaim string
}

// MappingFromEnv is the Mapping topology.EnvAuthGroupsClaim names.
func MappingFromEnv(getenv func(string) string) Mapping {
	return Mapping{GroupsClaim: getenv(topology.EnvAuthGroupsClaim)}
}

func (m Mapping) groupsClaim() string {
	if m.GroupsClaim == "" {
		return DefaultGroupsClaim
	}
	return m.GroupsClaim
}

// Identity builds an Identity from flat claims, as API Gateway's HTTP API
// JWT authorizer hands them to a Lambda
// (requestContext.authorizer.jwt.claims). The map is copied.
func (m Mapping) Identity(claims map[string]string) Identity {
	id := Identity{
		Subject: claims["sub"],
		Issuer:  claims["iss"],
		Expires: unixClaim(claims["exp"]),
		Groups:  ParseList(claims[m.groupsClaim()]),
		Claims:  make(map[string]string, len(claims)),
	}
	for k, v := range claims {
		id.Claims[k] = v
	}
	return id
}

// FromClaims is Mapping{}.Identity(claims): groups from DefaultGroupsClaim.
func FromClaims(claims map[string]string) Identity { return Mapping{}.Identity(claims) }

// ParseList reads a list claim in any of the forms it reaches a Lambda
// in: API Gateway renders a JSON array as "[a b]"; some issuers write
// "a,b" or a single "a". Empty items are dropped.
func ParseList(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	out := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// unixClaim reads a NumericDate claim ("1700000000", or a JSON number
// in another form); the zero time when there is none.
func unixClaim(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// FlattenClaims renders decoded JWT claims (decoded with json.Number for
// numbers) the way API Gateway's JWT authorizer hands them to a Lambda:
// strings as they are, numbers as written, booleans "true"/"false",
// arrays "[a b]", objects "map[k:v]" with sorted keys. Null claims are
// left out.
func FlattenClaims(claims map[string]any) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		if v == nil {
			continue
		}
		out[k] = renderClaim(v)
	}
	return out
}

func renderClaim(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderClaim(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + renderClaim(x[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	case nil:
		return "<nil>"
	default:
		return fmt.Sprint(x)
	}
}
