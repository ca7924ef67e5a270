package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestNagAwsSolutions: the AwsSolutions pack finds no unsuppressed error
// or warning in any stack (dev, prod, prod with an external issuer), while it does flag the canary's plain queue
// (so the checks really ran).
func TestNagAwsSolutions(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		ann := assertions.Annotations_FromStack(s.st.Stack)
		match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		found := append(*ann.FindError(jsii.String("*"), match), *ann.FindWarning(jsii.String("*"), match)...)
		for _, f := range found {
			b, _ := json.Marshal(f)
			t.Errorf("unsuppressed finding: %.400s", b)
		}
	})
	ann := assertions.Annotations_FromStack(synthesize(t)[dataPlane].st.Stack)
	if found := ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))); len(*found) > 0 {
		b, _ := json.Marshal(found)
		t.Errorf("data-plane stack: unsuppressed findings: %.600s", b)
	}
	canary := assertions.Annotations_FromStack(synthCanary(t))
	found := canary.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS[34].*")))
	if len(*found) < 2 {
		t.Errorf("cdk-nag did not flag the canary's unencrypted queue without a DLQ: %d findings", len(*found))
	}
}

func synthCanary(t *testing.T) awscdk.Stack {
	synthesize(t)
	return synth.canary
}

// TestNagSuppressionsHaveReasons: every suppression names a rule and gives
// a reason a reviewer can judge.
func TestNagSuppressionsHaveReasons(t *testing.T) {
	forFullStacks(t, func(t *testing.T, s *synthesized) {
		n := 0
		for id, r := range s.resources {
			for _, sup := range asList(path(r.Metadata, "cdk_nag", "rules_to_suppress")) {
				n++
				rule, _ := path(sup, "id").(string)
				reason, _ := path(sup, "reason").(string)
				if !strings.HasPrefix(rule, "AwsSolutions-") && !strings.HasPrefix(rule, "Serverless-") {
					t.Errorf("%s: suppression of %q", id, rule)
				}
				if len(reason) < 60 {
					t.Errorf("%s: %s suppressed with too thin a reason: %q", id, rule, reason)
				}
				if rule == "AwsSolutions-IAM5" && path(sup, "applies_to") == nil {
					t.Errorf("%s: wildcard suppression not limited to named findings", id)
				}
			}
		}
		if n == 0 {
			t.Error("no suppression metadata found: the nag checks or this test are broken")
		}
	})
}
