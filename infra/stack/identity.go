package stack

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/topology"
)

// Environment variables of the identity contract, set on the functions
// that verify callers (the graphql and realtime functions). The names are
// lib/topology's, which the functions read.
const (
	// EnvAuthIssuer is the OIDC issuer tokens must come from (iss).
	EnvAuthIssuer = topology.EnvAuthIssuer
	// EnvAuthAudience lists, comma-separated, the accepted audiences (aud,
	// or client_id for Cognito access tokens).
	EnvAuthAudience = topology.EnvAuthAudience
	// EnvAuthGroupsClaim names the claim holding the caller's groups; set
	// only when it is not DefaultGroupsClaim.
	EnvAuthGroupsClaim = topology.EnvAuthGroupsClaim
	// EnvAllowedOrigins lists, comma-separated, the browser origins allowed
	// to open the WebSocket and to call the HTTP API.
	EnvAllowedOrigins = topology.EnvAllowedOrigins
	// EnvExpiryScheduleGroup is the EventBridge Scheduler group in which the
	// realtime function schedules the close of a connection at its token's
	// expiry.
	EnvExpiryScheduleGroup = topology.EnvExpiryScheduleGroup
	// EnvExpirySchedulerRoleArn is the role those schedules run as (it may
	// invoke the realtime function, nothing else).
	EnvExpirySchedulerRoleArn = topology.EnvExpirySchedulerRoleARN
)

// DefaultGroupsClaim is where Cognito puts a user's groups.
const DefaultGroupsClaim = identity.DefaultGroupsClaim

// Token lifetimes of the Cognito app client. A WebSocket connection lives
// at most as long as the token it authenticated with.
const (
	AccessTokenValidityHours = 1
	IDTokenValidityHours     = 1
	RefreshTokenValidityDays = 30
)

// PasswordMinLength is the user pool's minimum password length; every
// character class is required too.
const PasswordMinLength = 12

// MFA says whether the user pool's users need a second factor (TOTP).
type MFA string

// MFA settings. The zero value takes the stage's default: required in
// prod, optional in dev.
const (
	MFAOff      MFA = "off"
	MFAOptional MFA = "optional"
	MFARequired MFA = "required"
)

// ParseMFA accepts off, optional or required.
func ParseMFA(s string) (MFA, error) {
	switch MFA(s) {
	case MFAOff, MFAOptional, MFARequired:
		return MFA(s), nil
	}
	return "", fmt.Errorf("mfa %q: want off, optional or required", s)
}

// DefaultMFA is the MFA setting of a stage when AuthConfig leaves it empty.
func DefaultMFA(s Stage) MFA {
	if s.IsProd() {
		return MFARequired
	}
	return MFAOptional
}

// AuthConfig says who may call the APIs. With Issuer empty the stack
// creates a Cognito user pool and an app client, and tokens come from
// there; with Issuer set (Auth0, Okta, Firebase, another pool...) the
// stack trusts that OIDC issuer for the given Audience and creates no pool.
type AuthConfig struct {
	// Issuer is an external OIDC issuer URL, exactly as its tokens' iss
	// claim spells it (https only).
	Issuer string
	// Audience lists the audiences (client ids) an external issuer's
	// tokens must carry. Required with Issuer, refused without it.
	Audience []string
	// GroupsClaim names the claim that carries the caller's groups.
	// Default DefaultGroupsClaim; Cognito always uses that one.
	GroupsClaim string

	// The rest configures the Cognito user pool, and is refused with an
	// external Issuer (except Groups and AdminOnlyAttributes, which
	// describe the app and are then the issuer's to provide).

	// Groups are the user pool groups to create (the app's roles).
	Groups []string
	// AdminOnlyAttributes are custom attributes (names without the
	// "custom:" prefix) that an administrator sets and users can read
	// but never write; tokens carry them as "custom:<name>" claims.
	AdminOnlyAttributes []string
	// MFA of the user pool. Default DefaultMFA(stage).
	MFA MFA
	// SelfSignUp lets anyone create an account in the user pool (with a
	// verified e-mail address). Default off: administrators create users.
	SelfSignUp bool
	// ThreatProtection puts the user pool on Cognito's Plus feature plan
	// (billed per monthly active user) with threat protection enforced:
	// compromised-credential checks and adaptive authentication.
	ThreatProtection bool
}

// External reports whether tokens come from an issuer outside the stack.
func (c AuthConfig) External() bool { return c.Issuer != "" }

var (
	customAttributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,19}$`)
	noSpace             = regexp.MustCompile(`^\S+$`)
)

// Validate reports the first setting that cannot work.
func (c AuthConfig) Validate() error {
	if c.External() {
		u, err := url.Parse(c.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("issuer %q: want an https URL, exactly as the tokens' iss claim has it (e.g. https://example.auth0.com/)", c.Issuer)
		}
		if len(c.Audience) == 0 {
			return fmt.Errorf("issuer %s: give the audience its tokens are issued for (the app's client id)", c.Issuer)
		}
		for _, a := range c.Audience {
			if !noSpace.MatchString(a) || strings.Contains(a, ",") {
				return fmt.Errorf("audience %q: want a non-empty value without spaces or commas", a)
			}
		}
		switch {
		case c.MFA != "":
			return fmt.Errorf("mfa applies to the stack's Cognito user pool; with issuer %s, MFA is the issuer's setting", c.Issuer)
		case c.SelfSignUp:
			return fmt.Errorf("self sign-up applies to the stack's Cognito user pool; with issuer %s, sign-up is the issuer's setting", c.Issuer)
		case c.ThreatProtection:
			return fmt.Errorf("threat protection applies to the stack's Cognito user pool; with issuer %s, it is the issuer's setting", c.Issuer)
		}
	} else {
		if len(c.Audience) > 0 {
			return fmt.Errorf("audience %q given without an issuer: give both (an external OIDC provider) or neither (the stack's Cognito user pool)", strings.Join(c.Audience, ","))
		}
		if c.GroupsClaim != "" && c.GroupsClaim != DefaultGroupsClaim {
			return fmt.Errorf("groups claim %q: Cognito puts groups in %s; another claim needs an external issuer", c.GroupsClaim, DefaultGroupsClaim)
		}
	}
	if c.GroupsClaim != "" && !noSpace.MatchString(c.GroupsClaim) {
		return fmt.Errorf("groups claim %q: want a claim name without spaces", c.GroupsClaim)
	}
	if c.MFA != "" {
		if _, err := ParseMFA(string(c.MFA)); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, g := range c.Groups {
		if !noSpace.MatchString(g) || len(g) > 128 {
			return fmt.Errorf("group %q: want 1 to 128 characters without spaces", g)
		}
		if seen[g] {
			return fmt.Errorf("group %q listed twice", g)
		}
		seen[g] = true
	}
	seen = map[string]bool{}
	for _, a := range c.AdminOnlyAttributes {
		if !customAttributeName.MatchString(a) {
			return fmt.Errorf("custom attribute %q: want a letter then up to 19 letters, digits or _, without the custom: prefix", a)
		}
		if seen[a] {
			return fmt.Errorf("custom attribute %q listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

// IdentityProps configures Identity.
type IdentityProps struct {
	App   string
	Stage Stage
	Auth  AuthConfig
}

// Identity is who the APIs trust: the stack's Cognito user pool and its
// public app client by default, or an external OIDC issuer. The HTTP API's
// JWT authorizer and the functions that verify tokens read Issuer and
// Audience from here.
type Identity struct {
	constructs.Construct
	// UserPool and Client are nil with an external issuer.
	UserPool awscognito.UserPool
	Client   awscognito.UserPoolClient
	// Groups are the user pool's groups, by name.
	Groups map[string]awscognito.CfnUserPoolGroup
	// Issuer is the iss every accepted token carries.
	Issuer *string
	// Audience lists the accepted audiences (the app client's id).
	Audience []*string
	// GroupsClaim names the claim with the caller's groups.
	GroupsClaim string
}

// NewIdentity creates the user pool, its app client and groups, or only
// records the external issuer. p.Auth must be valid (AuthConfig.Validate).
func NewIdentity(scope constructs.Construct, id string, p IdentityProps) *Identity {
	c := constructs.NewConstruct(scope, jsii.String(id))
	i := &Identity{Construct: c, Groups: map[string]awscognito.CfnUserPoolGroup{}, GroupsClaim: p.Auth.GroupsClaim}
	if i.GroupsClaim == "" {
		i.GroupsClaim = DefaultGroupsClaim
	}
	if p.Auth.External() {
		i.Issuer = jsii.String(p.Auth.Issuer)
		i.Audience = *jsii.Strings(p.Auth.Audience...)
		return i
	}

	mfa := p.Auth.MFA
	if mfa == "" {
		mfa = DefaultMFA(p.Stage)
	}
	custom := map[string]awscognito.ICustomAttribute{}
	for _, a := range p.Auth.AdminOnlyAttributes {
		// Mutable so that an administrator can change it; the app client
		// below does not let users write it.
		custom[a] = awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
			MinLen: jsii.Number(1), MaxLen: jsii.Number(128), Mutable: jsii.Bool(true),
		})
	}
	plan := awscognito.FeaturePlan_ESSENTIALS
	threat := awscognito.StandardThreatProtectionMode_NO_ENFORCEMENT
	if p.Auth.ThreatProtection {
		plan, threat = awscognito.FeaturePlan_PLUS, awscognito.StandardThreatProtectionMode_FULL_FUNCTION
	}
	props := &awscognito.UserPoolProps{
		UserPoolName:      jsii.String(p.App + "-" + string(p.Stage)),
		SelfSignUpEnabled: jsii.Bool(p.Auth.SelfSignUp),
		// Users sign in with their e-mail address; sub stays their
		// stable identifier.
		SignInAliases:       &awscognito.SignInAliases{Email: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		AutoVerify:          &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		// A changed address replaces the verified one only once verified.
		KeepOriginal: &awscognito.KeepOriginalAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email:    &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
			Fullname: &awscognito.StandardAttribute{Required: jsii.Bool(false), Mutable: jsii.Bool(true)},
		},
		CustomAttributes: &custom,
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(PasswordMinLength),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
			PasswordHistorySize:  jsii.Number(5),
		},
		AccountRecovery:              awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:                  plan,
		StandardThreatProtectionMode: threat,
		// No SMS: no SMS role, no SIM-swap exposure, no text-message bill.
		EnableSmsRole:      jsii.Bool(false),
		DeletionProtection: jsii.Bool(p.Stage.IsProd()),
		RemovalPolicy:      p.Stage.RemovalPolicy(),
	}
	switch mfa {
	case MFARequired:
		props.Mfa = awscognito.Mfa_REQUIRED
	case MFAOptional:
		props.Mfa = awscognito.Mfa_OPTIONAL
	default:
		props.Mfa = awscognito.Mfa_OFF
	}
	if mfa != MFAOff {
		props.MfaSecondFactor = &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)}
	}
	i.UserPool = awscognito.NewUserPool(c, jsii.String("UserPool"), props)

	var customNames []*string
	for _, a := range p.Auth.AdminOnlyAttributes {
		customNames = append(customNames, jsii.String(a))
	}
	read := awscognito.NewClientAttributes().
		WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), EmailVerified: jsii.Bool(true), Fullname: jsii.Bool(true)})
	if len(customNames) > 0 {
		read = read.WithCustomAttributes(customNames...)
	}
	i.Client = i.UserPool.AddClient(jsii.String("AppClient"), &awscognito.UserPoolClientOptions{
		UserPoolClientName: jsii.String(p.App),
		// A mobile or browser app cannot keep a secret.
		GenerateSecret: jsii.Bool(false),
		// SRP for apps (the password never leaves the device); the admin
		// password flow needs AWS credentials, for operators and tests.
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true), AdminUserPassword: jsii.Bool(true)},
		DisableOAuth:               jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(AccessTokenValidityHours)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(IDTokenValidityHours)),
		RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(RefreshTokenValidityDays)),
		ReadAttributes:             read,
		// Users may change their e-mail address and name, never an
		// admin-only attribute.
		WriteAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), Fullname: jsii.Bool(true)}),
	})
	for _, g := range p.Auth.Groups {
		i.Groups[g] = awscognito.NewCfnUserPoolGroup(c, jsii.String("Group"+topology.Pascal(g)), &awscognito.CfnUserPoolGroupProps{
			UserPoolId:  i.UserPool.UserPoolId(),
			GroupName:   jsii.String(g),
			Description: jsii.String("Role " + g + " of " + p.App + "; tokens list it in " + DefaultGroupsClaim),
		})
	}
	// The iss of the pool's tokens. (The pool's ProviderURL attribute
	// lacks the scheme.)
	stack := awscdk.Stack_Of(c)
	i.Issuer = jsii.String("https://cognito-idp." + *stack.Region() + "." + *stack.UrlSuffix() + "/" + *i.UserPool.UserPoolId())
	i.Audience = []*string{i.Client.UserPoolClientId()}

	if mfa != MFARequired {
		suppressMFANotRequired(i.UserPool, mfa, p.Stage)
	}
	if !p.Auth.ThreatProtection {
		suppressNoThreatProtection(i.UserPool)
	}
	return i
}

// Env is what a function that verifies tokens needs to know.
func (i *Identity) Env() map[string]string {
	env := map[string]string{
		EnvAuthIssuer:   *i.Issuer,
		EnvAuthAudience: *awscdk.Fn_Join(jsii.String(","), &i.Audience),
	}
	if i.GroupsClaim != DefaultGroupsClaim {
		env[EnvAuthGroupsClaim] = i.GroupsClaim
	}
	return env
}

// suppressMFANotRequired: the deployer chose optional or no MFA, or took
// the dev stage's default.
func suppressMFANotRequired(pool constructs.IConstruct, mfa MFA, stage Stage) {
	why := "MFA is " + string(mfa) + " because the deployer set -c mfa=" + string(mfa) + "."
	if stage == Dev {
		why = "MFA is " + string(mfa) + " in the dev stage (test users sign in from scripts); prod requires TOTP MFA unless the deployer sets -c mfa."
	}
	cdknag.NagSuppressions_AddResourceSuppressions(pool, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-COG2"),
		Reason: jsii.String(why + " Users can still enrol a TOTP authenticator; SMS is off."),
	}}, jsii.Bool(false))
}

// suppressNoThreatProtection: threat protection needs the Plus feature
// plan, billed per monthly active user; the deployer opts in.
func suppressNoThreatProtection(pool constructs.IConstruct) {
	reason := jsii.String("Threat protection needs Cognito's Plus feature plan, billed per monthly active user; the pool is on " +
		"Essentials (strong password policy, password history, TOTP MFA) and -c threatProtection=true turns Plus and enforcement on.")
	cdknag.NagSuppressions_AddResourceSuppressions(pool, &[]*cdknag.NagPackSuppression{
		// The Go binding's rule (AdvancedSecurityMode) and the npm
		// release's (feature plan): the same decision.
		{Id: jsii.String("AwsSolutions-COG3"), Reason: reason},
		{Id: jsii.String("AwsSolutions-COG8"), Reason: reason},
	}, jsii.Bool(false))
}
