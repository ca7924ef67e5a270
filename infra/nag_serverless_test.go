package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// newNagCanary is a stack of deliberately non-compliant resources, never
// deployed: the packs must flag them, which proves the checks run, and
// must not flag the one whose finding is suppressed.
func newNagCanary(scope constructs.Construct) awscdk.Stack {
	s := awscdk.NewStack(scope, jsii.String("nag-canary"), nil)
	awslambda.NewFunction(s, jsii.String("BareFunction"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => {};")),
	})
	awssqs.NewQueue(s, jsii.String("PlainQueue"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})
	q := awssqs.NewQueue(s, jsii.String("SuppressedQueue"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_SQS_MANAGED})
	cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("Serverless-SQSRedrivePolicy"),
		Reason: jsii.String("Canary: this finding is suppressed, so it must not be reported."),
	}}, jsii.Bool(false))
	return s
}

// findings lists "<construct id> <rule>" of the error and warning
// annotations of a stack whose rule id matches pattern.
func findings(t *testing.T, st awscdk.Stack, pattern string) map[string]bool {
	t.Helper()
	ann := assertions.Annotations_FromStack(st)
	match := assertions.Match_StringLikeRegexp(jsii.String(pattern))
	out := map[string]bool{}
	for _, f := range append(*ann.FindError(jsii.String("*"), match), *ann.FindWarning(jsii.String("*"), match)...) {
		b, _ := json.Marshal(f)
		var m struct {
			ID    string `json:"id"`
			Entry struct {
				Data string `json:"data"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(b, &m)
		rule, _, _ := strings.Cut(m.Entry.Data, ":")
		// "/stack/Construct/Resource": the construct's id.
		parts := strings.Split(strings.TrimSuffix(m.ID, "/Resource"), "/")
		out[parts[len(parts)-1]+" "+rule] = true
	}
	return out
}

// TestNagServerlessPack: cdk-nag's Serverless pack finds nothing
// unsuppressed in the full stacks (dev, prod, prod with an external
// issuer), while it flags the canary's bare function and queue, and not
// its suppressed queue.
func TestNagServerlessPack(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		for f := range findings(t, s.st.Stack, "Serverless-.*") {
			t.Errorf("unsuppressed finding: %s", f)
		}
	})
	got := findings(t, synthCanary(t), "(Serverless|AwsSolutions)-.*")
	for _, want := range []string{
		"BareFunction Serverless-LambdaDLQ",
		"BareFunction Serverless-LambdaDefaultMemorySize",
		"BareFunction Serverless-LambdaDefaultTimeout",
		"BareFunction Serverless-LambdaTracing",
		"PlainQueue Serverless-SQSRedrivePolicy",
		"PlainQueue AwsSolutions-SQS4",
	} {
		if !got[want] {
			t.Errorf("no finding %s; findings: %v", want, got)
		}
	}
	if got["SuppressedQueue Serverless-SQSRedrivePolicy"] {
		t.Error("a suppressed finding was reported")
	}
}
