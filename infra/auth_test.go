package main

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
)

// wantIssuer is the iss the stack's APIs trust: its user pool's, or the
// external issuer's.
func (s *synthesized) wantIssuer() any {
	if s.st.Identity.UserPool == nil {
		return external.auth.Issuer
	}
	return map[string]any{"Fn::Join": []any{"", []any{
		"https://cognito-idp.", ref("AWS::Region"), ".", ref("AWS::URLSuffix"), "/", ref(s.id(s.st.Identity.UserPool)),
	}}}
}

// wantAudience is the accepted audiences as the authorizer lists them.
func (s *synthesized) wantAudience() []any {
	if s.st.Identity.UserPool == nil {
		var out []any
		for _, a := range external.auth.Audience {
			out = append(out, a)
		}
		return out
	}
	return []any{ref(s.id(s.st.Identity.Client))}
}

// isGraphiQL: the one route that may go without a token, in dev only.
func (s *synthesized) isGraphiQL(key string) bool {
	return s.stage == stack.Dev && key == "GET "+stack.GraphiQLPath
}

// TestHTTPRoutesRequireJWT walks every route of the HTTP API: each needs
// a JWT from the stack's issuer for its audience, except dev's GraphiQL
// page; preflight requests are API Gateway's CORS, not a route.
func TestHTTPRoutesRequireJWT(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		api := ref(s.id(s.st.HTTP.Api))
		var authorizers []string
		for id, a := range s.ofType("AWS::ApiGatewayV2::Authorizer") {
			if !reflect.DeepEqual(a.Properties["ApiId"], api) {
				continue
			}
			authorizers = append(authorizers, id)
			p := a.Properties
			if p["AuthorizerType"] != "JWT" {
				t.Errorf("%s: AuthorizerType %v", id, p["AuthorizerType"])
			}
			if !reflect.DeepEqual(p["IdentitySource"], []any{"$request.header.Authorization"}) {
				t.Errorf("%s: IdentitySource %v, want the Authorization header", id, p["IdentitySource"])
			}
			if got := path(p, "JwtConfiguration", "Issuer"); !reflect.DeepEqual(got, s.wantIssuer()) {
				t.Errorf("%s: issuer %s, want %s", id, jsonString(got), jsonString(s.wantIssuer()))
			}
			if got := path(p, "JwtConfiguration", "Audience"); !reflect.DeepEqual(got, s.wantAudience()) {
				t.Errorf("%s: audience %s, want %s", id, jsonString(got), jsonString(s.wantAudience()))
			}
		}
		if len(authorizers) != 1 {
			t.Fatalf("%d authorizers on the HTTP API, want one JWT authorizer", len(authorizers))
		}
		n := 0
		for id, r := range s.ofType("AWS::ApiGatewayV2::Route") {
			if !reflect.DeepEqual(r.Properties["ApiId"], api) {
				continue
			}
			n++
			key, _ := r.Properties["RouteKey"].(string)
			if strings.HasPrefix(key, "OPTIONS ") || strings.HasPrefix(key, "ANY ") || key == "$default" || strings.Contains(key, "{proxy") {
				t.Errorf("%s: route %q: only GET/POST %s (and dev's GET %s) should exist", id, key, stack.GraphQLPath, stack.GraphiQLPath)
			}
			if s.isGraphiQL(key) {
				if r.Properties["AuthorizationType"] != "NONE" || r.Properties["AuthorizerId"] != nil {
					t.Errorf("%s: %s has authorization %v %v, want none (the page only)", id, key, r.Properties["AuthorizationType"], r.Properties["AuthorizerId"])
				}
				continue
			}
			if r.Properties["AuthorizationType"] != "JWT" || !reflect.DeepEqual(r.Properties["AuthorizerId"], ref(authorizers[0])) {
				t.Errorf("%s: %s has authorization %v %v, want the JWT authorizer", id, key, r.Properties["AuthorizationType"], r.Properties["AuthorizerId"])
			}
		}
		if n < 2 {
			t.Errorf("%d routes on the HTTP API, want GET and POST %s at least", n, stack.GraphQLPath)
		}
		// Preflight: API Gateway answers OPTIONS itself for the CORS
		// configuration, before any authorizer.
		cors := s.res(t, s.st.HTTP.Api, "AWS::ApiGatewayV2::Api").Properties["CorsConfiguration"]
		if !contains(asList(path(cors, "AllowMethods")), "OPTIONS") || !contains(asList(path(cors, "AllowHeaders")), "authorization") {
			t.Errorf("CORS %s: preflight must allow OPTIONS and the authorization header", jsonString(cors))
		}
	})
}

// TestAllowedOrigins: never "*" in prod, neither in CORS nor in the
// functions' ALLOWED_ORIGINS; dev allows any origin over HTTP only.
func TestAllowedOrigins(t *testing.T) {
	want := map[string]struct {
		cors []any
		env  string
	}{
		"dev":      {[]any{"*"}, ""},
		"prod":     {[]any{prodOrigins[0], prodOrigins[1]}, strings.Join(prodOrigins, ",")},
		"external": {[]any{external.origins[0]}, external.origins[0]},
	}
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		key := string(s.stage)
		if s.st.Identity.UserPool == nil {
			key = "external"
		}
		w := want[key]
		cors := path(s.res(t, s.st.HTTP.Api, "AWS::ApiGatewayV2::Api").Properties, "CorsConfiguration", "AllowOrigins")
		if !reflect.DeepEqual(cors, w.cors) {
			t.Errorf("CORS origins %v, want %v", cors, w.cors)
		}
		for name, fn := range map[string]awslambda.Function{"graphql": s.st.HTTP.Function, "realtime": s.st.Realtime.Function} {
			env := s.env(t, fn)
			got, ok := env[stack.EnvAllowedOrigins]
			if !ok || got != w.env {
				t.Errorf("%s: %s = %v, want %q", name, stack.EnvAllowedOrigins, got, w.env)
			}
			if s.stage == stack.Prod && strings.Contains(jsonString(got)+jsonString(cors), "*") {
				t.Errorf("%s: prod allows any origin: %v %v", name, got, cors)
			}
		}
	})
}

// TestAuthEnvironment: the functions that verify tokens (graphql, and
// realtime for connection_init) know the issuer and audience the
// authorizer trusts; the groups claim is named only when not Cognito's.
func TestAuthEnvironment(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		var wantAudience, wantClaim any
		if s.st.Identity.UserPool == nil {
			wantAudience = strings.Join(external.auth.Audience, ",")
			wantClaim = external.auth.GroupsClaim
		} else {
			wantAudience = ref(s.id(s.st.Identity.Client))
		}
		for name, fn := range map[string]awslambda.Function{"graphql": s.st.HTTP.Function, "realtime": s.st.Realtime.Function} {
			env := s.env(t, fn)
			if !reflect.DeepEqual(env[stack.EnvAuthIssuer], s.wantIssuer()) {
				t.Errorf("%s: %s = %s, want %s", name, stack.EnvAuthIssuer, jsonString(env[stack.EnvAuthIssuer]), jsonString(s.wantIssuer()))
			}
			if !reflect.DeepEqual(env[stack.EnvAuthAudience], wantAudience) {
				t.Errorf("%s: %s = %s, want %s", name, stack.EnvAuthAudience, jsonString(env[stack.EnvAuthAudience]), jsonString(wantAudience))
			}
			if !reflect.DeepEqual(env[stack.EnvAuthGroupsClaim], wantClaim) {
				t.Errorf("%s: %s = %v, want %v", name, stack.EnvAuthGroupsClaim, env[stack.EnvAuthGroupsClaim], wantClaim)
			}
		}
		// The fan-out verifies no token: it pushes under the session the
		// realtime function stored.
		for k := range s.env(t, s.st.Realtime.FanOut) {
			if strings.HasPrefix(k, "AUTH_") {
				t.Errorf("fanout has %s", k)
			}
		}
	})
}

// TestUserPool: the Cognito pool, its public app client and the app's
// group, as the identity contract needs them.
func TestUserPool(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		id := s.st.Identity
		if n := len(s.ofType("AWS::Cognito::UserPool")); n != 1 {
			t.Fatalf("%d user pools, want 1", n)
		}
		pool := s.res(t, id.UserPool, "AWS::Cognito::UserPool")
		p := pool.Properties
		pw := path(p, "Policies", "PasswordPolicy")
		if path(pw, "MinimumLength") != float64(stack.PasswordMinLength) || stack.PasswordMinLength < 12 {
			t.Errorf("password minimum length %v", path(pw, "MinimumLength"))
		}
		for _, k := range []string{"RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"} {
			if path(pw, k) != true {
				t.Errorf("password policy %s = %v", k, path(pw, k))
			}
		}
		if d, _ := path(pw, "TemporaryPasswordValidityDays").(float64); d < 1 || d > 7 {
			t.Errorf("temporary passwords valid %v days", d)
		}
		wantMFA := map[stack.Stage]string{stack.Dev: "OPTIONAL", stack.Prod: "ON"}[s.stage]
		if p["MfaConfiguration"] != wantMFA || !reflect.DeepEqual(p["EnabledMfas"], []any{"SOFTWARE_TOKEN_MFA"}) {
			t.Errorf("MFA %v %v, want %s with TOTP only", p["MfaConfiguration"], p["EnabledMfas"], wantMFA)
		}
		if p["SmsConfiguration"] != nil {
			t.Errorf("SMS configured: %s", jsonString(p["SmsConfiguration"]))
		}
		if path(p, "AdminCreateUserConfig", "AllowAdminCreateUserOnly") != true {
			t.Error("self sign-up is on by default")
		}
		if !reflect.DeepEqual(p["UsernameAttributes"], []any{"email"}) || path(p, "UsernameConfiguration", "CaseSensitive") != false {
			t.Errorf("sign-in by %v (case sensitive %v), want e-mail, case-insensitive", p["UsernameAttributes"], path(p, "UsernameConfiguration", "CaseSensitive"))
		}
		if !reflect.DeepEqual(path(p, "AccountRecoverySetting", "RecoveryMechanisms"), []any{map[string]any{"Name": "verified_email", "Priority": 1.0}}) {
			t.Errorf("account recovery %s, want verified e-mail only", jsonString(p["AccountRecoverySetting"]))
		}
		if p["UserPoolTier"] != "ESSENTIALS" {
			t.Errorf("UserPoolTier %v", p["UserPoolTier"])
		}
		found := false
		for _, a := range asList(p["Schema"]) {
			if path(a, "Name") == "restaurantId" {
				found = true
				if path(a, "AttributeDataType") != "String" || path(a, "Mutable") != true {
					t.Errorf("custom attribute %s: want a mutable string (admins change it)", jsonString(a))
				}
			}
		}
		if !found {
			t.Errorf("no custom restaurantId attribute in %s", jsonString(p["Schema"]))
		}
		wantPolicy, wantProtection := "Delete", "INACTIVE"
		if s.stage == stack.Prod {
			wantPolicy, wantProtection = "Retain", "ACTIVE"
		}
		if pool.DeletionPolicy != wantPolicy || pool.UpdateReplacePolicy != wantPolicy || p["DeletionProtection"] != wantProtection {
			t.Errorf("DeletionPolicy %s UpdateReplacePolicy %s DeletionProtection %v, want %s %s", pool.DeletionPolicy, pool.UpdateReplacePolicy, p["DeletionProtection"], wantPolicy, wantProtection)
		}

		if n := len(s.ofType("AWS::Cognito::UserPoolClient")); n != 1 {
			t.Fatalf("%d app clients, want 1", n)
		}
		c := s.res(t, id.Client, "AWS::Cognito::UserPoolClient").Properties
		if !reflect.DeepEqual(c["UserPoolId"], ref(s.id(id.UserPool))) {
			t.Errorf("client of pool %v", c["UserPoolId"])
		}
		if c["GenerateSecret"] != false {
			t.Errorf("GenerateSecret %v: a public client has no secret", c["GenerateSecret"])
		}
		minutes := map[string]float64{"minutes": 1, "hours": 60, "days": 24 * 60}
		for token, want := range map[string]float64{
			"AccessToken":  stack.AccessTokenValidityHours * 60,
			"IdToken":      stack.IDTokenValidityHours * 60,
			"RefreshToken": stack.RefreshTokenValidityDays * 24 * 60,
		} {
			unit, _ := path(c, "TokenValidityUnits", token).(string)
			v, _ := c[token+"Validity"].(float64)
			if v*minutes[unit] != want {
				t.Errorf("%s valid %v %s, want %v minutes", token, v, unit, want)
			}
		}
		if stack.AccessTokenValidityHours != 1 || stack.IDTokenValidityHours != 1 || stack.RefreshTokenValidityDays != 30 {
			t.Error("token lifetimes: want access and ID tokens for 1 hour, refresh tokens for 30 days")
		}
		flows := map[string]bool{}
		for _, f := range asList(c["ExplicitAuthFlows"]) {
			flows[f.(string)] = true
		}
		if want := []string{"ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"}; !reflect.DeepEqual(sortedKeys(flows), want) {
			t.Errorf("auth flows %v, want %v (never the plain password flow)", sortedKeys(flows), want)
		}
		if c["AllowedOAuthFlowsUserPoolClient"] == true {
			t.Error("OAuth flows enabled without a domain")
		}
		if c["PreventUserExistenceErrors"] != "ENABLED" || c["EnableTokenRevocation"] != true {
			t.Errorf("PreventUserExistenceErrors %v EnableTokenRevocation %v", c["PreventUserExistenceErrors"], c["EnableTokenRevocation"])
		}
		if !contains(asList(c["ReadAttributes"]), "custom:restaurantId") {
			t.Errorf("users cannot read custom:restaurantId: %v", c["ReadAttributes"])
		}
		if len(asList(c["WriteAttributes"])) == 0 {
			t.Error("no WriteAttributes: the client may write every attribute")
		}
		for _, a := range asList(c["WriteAttributes"]) {
			if strings.HasPrefix(a.(string), "custom:") {
				t.Errorf("users may write %v", a)
			}
		}

		groups := map[string]bool{}
		for gid, g := range s.ofType("AWS::Cognito::UserPoolGroup") {
			groups[g.Properties["GroupName"].(string)] = true
			if !reflect.DeepEqual(g.Properties["UserPoolId"], ref(s.id(id.UserPool))) {
				t.Errorf("%s in pool %v", gid, g.Properties["UserPoolId"])
			}
		}
		if want := fooddelivery.App.Users.Groups; !reflect.DeepEqual(sortedKeys(groups), want) {
			t.Errorf("groups %v, want %v", sortedKeys(groups), want)
		}

		for name, want := range map[string]any{
			stack.OutputUserPoolID:       ref(s.id(id.UserPool)),
			stack.OutputUserPoolClientID: ref(s.id(id.Client)),
			stack.OutputAuthIssuer:       s.wantIssuer(),
		} {
			if got := path(s.outputs[name], "Value"); !reflect.DeepEqual(got, want) {
				t.Errorf("output %s = %s, want %s", name, jsonString(got), jsonString(want))
			}
		}
	})
}

// TestExternalIssuer: with -c issuer and -c audience no user pool is
// created and the issuer is what the APIs trust; its throttles are the
// ones given.
func TestExternalIssuer(t *testing.T) {
	s := synthesize(t)[externalIssuer]
	for id, r := range s.resources {
		if strings.HasPrefix(r.Type, "AWS::Cognito::") {
			t.Errorf("%s: %s created with an external issuer", id, r.Type)
		}
	}
	if s.st.Identity.UserPool != nil || s.st.Identity.Client != nil {
		t.Error("the Identity construct has a user pool")
	}
	if got := path(s.outputs[stack.OutputAuthIssuer], "Value"); got != external.auth.Issuer {
		t.Errorf("output %s = %v", stack.OutputAuthIssuer, got)
	}
	for _, name := range []string{stack.OutputUserPoolID, stack.OutputUserPoolClientID} {
		if _, ok := s.outputs[name]; ok {
			t.Errorf("output %s without a user pool", name)
		}
	}
	for name, c := range map[string]struct {
		stage constructs.IConstruct
		want  stack.Throttle
	}{
		"http": {s.st.HTTP.Stage, external.http},
		"ws":   {s.st.Realtime.Stage, external.ws},
	} {
		st := s.resources[s.id(c.stage)].Properties
		if path(st, "DefaultRouteSettings", "ThrottlingRateLimit") != c.want.RatePerSecond ||
			path(st, "DefaultRouteSettings", "ThrottlingBurstLimit") != c.want.Burst {
			t.Errorf("%s throttle %s, want %+v", name, jsonString(st["DefaultRouteSettings"]), c.want)
		}
	}
}

// TestExpirySchedules: the realtime function may create schedules in its
// group only, passing only the expiry role, which Scheduler may assume for
// that group only and which may only invoke the realtime function.
func TestExpirySchedules(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		r := s.st.Realtime
		if n := len(s.ofType("AWS::Scheduler::ScheduleGroup")); n != 1 {
			t.Fatalf("%d schedule groups, want 1", n)
		}
		group := s.res(t, r.ExpirySchedules, "AWS::Scheduler::ScheduleGroup")
		name, _ := group.Properties["Name"].(string)
		if name == "" || len(name) > 64 {
			t.Fatalf("schedule group name %v", group.Properties["Name"])
		}

		role := s.res(t, r.ExpiryRole, "AWS::IAM::Role").Properties
		trust := asList(path(role, "AssumeRolePolicyDocument", "Statement"))
		wantTrust := map[string]any{
			"Action": "sts:AssumeRole", "Effect": "Allow",
			"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
			"Condition": map[string]any{"StringEquals": map[string]any{
				"aws:SourceAccount": ref("AWS::AccountId"),
				"aws:SourceArn":     getAtt(s.id(r.ExpirySchedules), "Arn"),
			}},
		}
		if len(trust) != 1 || !reflect.DeepEqual(trust[0], wantTrust) {
			t.Errorf("expiry role trust %s, want %s", jsonString(trust), jsonString(wantTrust))
		}
		roleStatements := s.roleStatements(s.id(r.ExpiryRole))
		wantInvoke := map[string]any{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": getAtt(s.id(r.Function), "Arn")}
		if len(roleStatements) != 1 || !reflect.DeepEqual(roleStatements[0], wantInvoke) {
			t.Errorf("expiry role may %s, want only %s", jsonString(roleStatements), jsonString(wantInvoke))
		}

		var create, pass []any
		for _, st := range s.statementsOf(t, r.Function) {
			for _, a := range actions(st) {
				switch {
				case strings.HasPrefix(a.(string), "scheduler:"):
					create = append(create, st)
				case a == "iam:PassRole":
					pass = append(pass, st)
				}
			}
		}
		if len(create) != 1 || !reflect.DeepEqual(actions(create[0]), []any{"scheduler:CreateSchedule"}) {
			t.Fatalf("realtime scheduler statements %s, want one scheduler:CreateSchedule", jsonString(create))
		}
		res := jsonString(path(create[0], "Resource"))
		for _, part := range []string{`{"Ref":"AWS::Partition"}`, `":scheduler:"`, `{"Ref":"AWS::Region"}`, `{"Ref":"AWS::AccountId"}`, `":schedule/` + name + `/*"`} {
			if !strings.Contains(res, part) {
				t.Errorf("CreateSchedule on %s: want arn:...:scheduler:<region>:<account>:schedule/%s/* (lacks %s)", res, name, part)
			}
		}
		wantPass := map[string]any{
			"Action": "iam:PassRole", "Effect": "Allow", "Resource": getAtt(s.id(r.ExpiryRole), "Arn"),
			"Condition": map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}},
		}
		if len(pass) != 1 || !reflect.DeepEqual(pass[0], wantPass) {
			t.Errorf("realtime PassRole statements %s, want %s", jsonString(pass), jsonString(wantPass))
		}
		// Nobody else schedules or passes roles.
		realtimeRole := ref(s.id(r.Function.Role()))
		for id, p := range s.ofType("AWS::IAM::Policy") {
			if contains(asList(p.Properties["Roles"]), realtimeRole) {
				continue
			}
			for _, st := range asList(path(p.Properties, "PolicyDocument", "Statement")) {
				for _, a := range actions(st) {
					if strings.HasPrefix(a.(string), "scheduler:") || a == "iam:PassRole" {
						t.Errorf("%s may %v", id, a)
					}
				}
			}
		}

		env := s.env(t, r.Function)
		if env[stack.EnvExpiryScheduleGroup] != name {
			t.Errorf("%s = %v, want %s", stack.EnvExpiryScheduleGroup, env[stack.EnvExpiryScheduleGroup], name)
		}
		if !reflect.DeepEqual(env[stack.EnvExpirySchedulerRoleArn], getAtt(s.id(r.ExpiryRole), "Arn")) {
			t.Errorf("%s = %s", stack.EnvExpirySchedulerRoleArn, jsonString(env[stack.EnvExpirySchedulerRoleArn]))
		}
		// What the schedules' asynchronous invocations finally fail to do
		// is kept, and alarmed on (TestAlarms).
		fn := s.res(t, r.Function, "AWS::Lambda::Function").Properties
		if !reflect.DeepEqual(path(fn, "DeadLetterConfig", "TargetArn"), getAtt(s.id(r.AsyncFailures), "Arn")) {
			t.Errorf("realtime DeadLetterConfig %s", jsonString(fn["DeadLetterConfig"]))
		}
	})
}

// TestAuthSuppressionsHold: each identity-related cdk-nag suppression is
// true of the resource it sits on.
func TestAuthSuppressionsHold(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		wsAPI := ref(s.id(s.st.Realtime.Api))
		group, _ := s.resources[s.id(s.st.Realtime.ExpirySchedules)].Properties["Name"].(string)
		realtimeRole := s.id(s.st.Realtime.Function.Role())
		seen := map[string]int{}
		for id, r := range s.resources {
			for _, sup := range asList(path(r.Metadata, "cdk_nag", "rules_to_suppress")) {
				rule, _ := path(sup, "id").(string)
				switch rule {
				case "AwsSolutions-COG2":
					seen[rule]++
					if r.Type != "AWS::Cognito::UserPool" || r.Properties["MfaConfiguration"] == "ON" {
						t.Errorf("%s (%s): COG2 suppressed, MFA %v", id, r.Type, r.Properties["MfaConfiguration"])
					}
				case "AwsSolutions-COG3", "AwsSolutions-COG8":
					seen[rule]++
					if r.Type != "AWS::Cognito::UserPool" || r.Properties["UserPoolTier"] == "PLUS" ||
						path(r.Properties, "UserPoolAddOns", "AdvancedSecurityMode") == "ENFORCED" {
						t.Errorf("%s (%s): %s suppressed, tier %v", id, r.Type, rule, r.Properties["UserPoolTier"])
					}
				case "AwsSolutions-APIG4":
					// The rule inspects routes; the WebSocket API's other
					// resources inherit its suppression, inertly.
					seen[rule]++
					key, _ := r.Properties["RouteKey"].(string)
					switch {
					case r.Type == "AWS::ApiGatewayV2::Route":
						wsRoute := reflect.DeepEqual(r.Properties["ApiId"], wsAPI)
						graphiql := s.isGraphiQL(key) && reflect.DeepEqual(r.Properties["ApiId"], ref(s.id(s.st.HTTP.Api)))
						if !wsRoute && !graphiql {
							t.Errorf("%s (%s): no authorizer accepted on a route that needs the JWT authorizer", id, key)
						}
					case id != s.id(s.st.Realtime.Api) && !strings.Contains(jsonString(r.Properties), jsonString(wsAPI)):
						t.Errorf("%s (%s): APIG4 suppressed outside the WebSocket API", id, r.Type)
					}
				case "AwsSolutions-IAM5":
					for _, a := range asList(path(sup, "applies_to")) {
						if !strings.Contains(jsonString(a), ":schedule/") {
							continue
						}
						seen["schedules"]++
						onRealtime := id == realtimeRole || contains(asList(r.Properties["Roles"]), ref(realtimeRole))
						if !onRealtime || jsonString(a) != jsonString("Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"+group+"/*") {
							t.Errorf("%s: schedule wildcard %s suppressed; want only the realtime role's, on group %s", id, jsonString(a), group)
						}
					}
				}
			}
		}
		want := []string{"AwsSolutions-APIG4", "schedules"}
		if s.st.Identity.UserPool != nil {
			want = append(want, "AwsSolutions-COG3", "AwsSolutions-COG8")
			if s.stage == stack.Dev {
				want = append(want, "AwsSolutions-COG2")
			}
		}
		sort.Strings(want)
		if !reflect.DeepEqual(sortedKeys(seen), want) {
			t.Errorf("suppressions found %v, want %v", sortedKeys(seen), want)
		}
	})
}

// roleStatements lists the statements of every policy attached to a role.
func (s *synthesized) roleStatements(roleID string) []any {
	var out []any
	for _, p := range s.ofType("AWS::IAM::Policy") {
		if contains(asList(p.Properties["Roles"]), ref(roleID)) {
			out = append(out, asList(path(p.Properties, "PolicyDocument", "Statement"))...)
		}
	}
	return out
}
