package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threefactor/framework/infra/stack"
)

// nagReport is what infra/nag/check.mjs prints for one template.
type nagReport struct {
	Template string       `json:"template"`
	Checked  int          `json:"checked"`
	Findings []nagFinding `json:"findings"`
	// Suppressed findings, with the reason recorded in the Go app.
	Suppressed []struct {
		Pack      string `json:"pack"`
		RuleID    string `json:"ruleId"`
		LogicalID string `json:"logicalId"`
		Reason    string `json:"reason"`
	} `json:"suppressed"`
	// Failures are rules that could not evaluate a resource.
	Failures []struct {
		RuleID    string `json:"ruleId"`
		LogicalID string `json:"logicalId"`
		Error     string `json:"error"`
	} `json:"failures"`
}

type nagFinding struct {
	Pack      string `json:"pack"`
	RuleID    string `json:"ruleId"`
	Level     string `json:"level"`
	FindingID string `json:"findingId"`
	LogicalID string `json:"logicalId"`
	Info      string `json:"info"`
}

// runNagPacks runs cdk-nag's Serverless and AwsSolutions packs from npm
// (infra/nag/check.mjs) over template files, one report per file.
func runNagPacks(t *testing.T, files ...string) []nagReport {
	t.Helper()
	if _, err := os.Stat(filepath.Join("node_modules", "cdk-nag", "package.json")); err != nil {
		t.Fatalf("infra/node_modules has no cdk-nag (%v): run `make deps` (npm ci in infra/) first", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js 20+) is needed to run cdk-nag's rule packs: %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, append([]string{filepath.Join("nag", "check.mjs")}, files...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node nag/check.mjs: %v\n%s", err, stderr.String())
	}
	var out struct {
		Reports []nagReport `json:"reports"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("nag/check.mjs output: %v: %.500s", err, stdout.String())
	}
	if len(out.Reports) != len(files) {
		t.Fatalf("nag/check.mjs: %d reports for %d templates", len(out.Reports), len(files))
	}
	return out.Reports
}

// TestNagServerlessPack: cdk-nag's Serverless pack (and AwsSolutions again,
// as released on npm) finds nothing unsuppressed in the dev and prod
// templates (and prod's with an external issuer), while it flags the canary's deliberately bare resources.
func TestNagServerlessPack(t *testing.T) {
	stacks := synthesize(t)
	dir := t.TempDir()
	stages := []stack.Stage{stack.Dev, stack.Prod, externalIssuer}
	var files []string
	for _, stage := range stages {
		b, err := json.Marshal(stacks[stage].raw)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, string(stage)+".template.json")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	canary, err := filepath.Abs(filepath.Join("testdata", "nag-canary.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	reports := runNagPacks(t, append(files, canary)...)

	for i, stage := range stages {
		r, s := reports[i], stacks[stage]
		t.Run(string(stage), func(t *testing.T) {
			// Every rule sees every resource, so a resource the packs
			// never reached means the template was not loaded whole.
			if r.Checked != len(s.resources) {
				t.Errorf("the packs checked %d resources of %d", r.Checked, len(s.resources))
			}
			for _, f := range r.Findings {
				t.Errorf("unsuppressed %s %s on %s %s: %.300s", f.Level, f.RuleID, f.LogicalID, f.FindingID, f.Info)
			}
			for _, f := range r.Failures {
				t.Errorf("%s could not evaluate %s: %s", f.RuleID, f.LogicalID, f.Error)
			}
			// The Go app's suppressions reach the npm packs.
			n := 0
			for _, sup := range r.Suppressed {
				if strings.HasPrefix(sup.RuleID, "Serverless-") {
					n++
				}
			}
			if n == 0 {
				t.Error("no Serverless finding was suppressed: the app's suppression metadata did not reach the pack")
			}
		})
	}

	t.Run("canary", func(t *testing.T) {
		r := reports[len(reports)-1]
		got := map[string]bool{}
		for _, f := range r.Findings {
			got[f.LogicalID+" "+f.RuleID] = true
		}
		for _, want := range []string{
			"BareFunction Serverless-LambdaDLQ",
			"BareFunction Serverless-LambdaDefaultMemorySize",
			"BareFunction Serverless-LambdaDefaultTimeout",
			"BareFunction Serverless-LambdaTracing",
			"PlainQueue Serverless-SQSRedrivePolicy",
			"PlainQueue AwsSolutions-SQS4",
		} {
			if !got[want] {
				t.Errorf("no finding %s; findings: %v", want, sortedKeys(got))
			}
		}
		if got["SuppressedQueue Serverless-SQSRedrivePolicy"] {
			t.Error("a suppressed finding was reported as a finding")
		}
		suppressed := false
		for _, s := range r.Suppressed {
			suppressed = suppressed || s.LogicalID == "SuppressedQueue" && s.RuleID == "Serverless-SQSRedrivePolicy"
		}
		if !suppressed {
			t.Errorf("the canary's suppression was not reported: %+v", r.Suppressed)
		}
	})
}

// TestNagCheckScriptFails: the script reports a template it cannot load as
// a failure of its own, not as a clean result.
func TestNagCheckScriptFails(t *testing.T) {
	if _, err := os.Stat(filepath.Join("node_modules", "cdk-nag", "package.json")); err != nil {
		t.Fatalf("infra/node_modules has no cdk-nag (%v): run `make deps` (npm ci in infra/) first", err)
	}
	cmd := exec.Command("node", filepath.Join("nag", "check.mjs"), filepath.Join(t.TempDir(), "missing.json"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("check.mjs on a missing template: %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "missing.json") {
		t.Errorf("the error does not name the template: %s", out)
	}
}
