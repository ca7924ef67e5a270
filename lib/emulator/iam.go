package emulator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// AccountID is the account moto puts every resource and IAM user in.
const AccountID = "123456789012"

// AdminUser is the IAM user StartEnforcingIAM creates: it may do anything.
const AdminUser = "emulator-admin"

// envNoAuthCount is moto's setting: how many requests it serves before it
// checks every later one against IAM (the signature must be an IAM user's
// keys, and one of the user's policies must allow the action).
const envNoAuthCount = "INITIAL_NO_AUTH_ACTION_COUNT"

// adminBootstrapCalls is how many requests making the administrator takes
// (CreateUser, PutUserPolicy, CreateAccessKey): moto serves exactly those
// without checking, then enforces IAM.
const adminBootstrapCalls = 3

const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// StartEnforcingIAM starts a private moto server that checks IAM on every
// request, as AWS does, and returns it with the configuration of an
// administrator (AdminUser) to provision it with. Every other caller needs
// an IAM user of its own (CreateUser) and is allowed what that user's
// policies allow. moto evaluates policies with one limit: it checks a
// statement's resources only for some services (SQS, IAM, STS, S3); for
// the others a statement scoped to resources never matches (the request's
// resource is "*"), so such statements must name "*" for the emulator.
// Enforcement covers the whole server, hence a server of its own.
func StartEnforcingIAM(ctx context.Context, logPath string) (*Server, aws.Config, error) {
	s, err := Start(ctx, logPath, WithEnv(envNoAuthCount+"="+strconv.Itoa(adminBootstrapCalls)))
	if err != nil {
		return nil, aws.Config{}, err
	}
	boot, err := UserConfig(ctx, s.Endpoint(), aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey})
	if err != nil {
		_ = s.Close()
		return nil, aws.Config{}, err
	}
	// One attempt per call: a retried request would use up the unchecked
	// ones and leave the administrator without keys.
	boot.RetryMaxAttempts = 1
	creds, err := CreateUser(ctx, boot, AdminUser, map[string]string{"allow-all": allowAll})
	if err != nil {
		_ = s.Close()
		return nil, aws.Config{}, fmt.Errorf("emulator: create the administrator: %w", err)
	}
	admin, err := UserConfig(ctx, s.Endpoint(), creds)
	if err != nil {
		_ = s.Close()
		return nil, aws.Config{}, err
	}
	return s, admin, nil
}

// UserConfig is the configuration of an IAM user of an emulator at
// endpoint: the emulator's region, the user's keys.
func UserConfig(ctx context.Context, endpoint string, creds aws.Credentials) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(5),
	)
	if err != nil {
		return cfg, fmt.Errorf("emulator: aws config: %w", err)
	}
	return cfg, nil
}

// CreateUser creates the IAM user name with the given inline policies
// (policy name to document) and returns its new access key. cfg must be
// allowed to manage IAM users (StartEnforcingIAM's administrator).
func CreateUser(ctx context.Context, cfg aws.Config, name string, policies map[string]string) (aws.Credentials, error) {
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		return aws.Credentials{}, fmt.Errorf("create user %s: %w", name, err)
	}
	for _, p := range sortedKeys(policies) {
		if err := PutUserPolicy(ctx, cfg, name, p, policies[p]); err != nil {
			return aws.Credentials{}, err
		}
	}
	out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("create access key of %s: %w", name, err)
	}
	k := out.AccessKey
	if k == nil || k.AccessKeyId == nil || k.SecretAccessKey == nil {
		return aws.Credentials{}, errors.New("create access key: no key in the answer")
	}
	return aws.Credentials{AccessKeyID: *k.AccessKeyId, SecretAccessKey: *k.SecretAccessKey, Source: "emulator user " + name}, nil
}

// PutUserPolicy sets (adds or replaces) the inline policy named policy of
// user. moto reads a user's policies on every request, so the change holds
// from the next call on.
func PutUserPolicy(ctx context.Context, cfg aws.Config, user, policy, document string) error {
	_, err := iam.NewFromConfig(cfg).PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(user), PolicyName: aws.String(policy), PolicyDocument: aws.String(document),
	})
	if err != nil {
		return fmt.Errorf("put policy %s of user %s: %w", policy, user, err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
