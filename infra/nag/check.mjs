// check.mjs runs cdk-nag rule packs from npm over synthesized CloudFormation
// templates and prints what they found as JSON.
//
//   node infra/nag/check.mjs [--packs Serverless,AwsSolutions] template.json...
//
// The Go app pins the Go binding of cdk-nag, which lacks some packs (the
// Serverless pack among them). This script checks the app's synthesized
// templates with the npm release instead: each template is loaded with
// CfnInclude, which turns every resource into an L1 construct and keeps its
// Metadata, so the suppressions the Go app recorded (Metadata
// cdk_nag.rules_to_suppress) apply here exactly as they do in the app. The
// rules of these packs inspect L1 resources (CfnResource), which is all
// CfnInclude gives them.
//
// Output, on stdout, one report per template:
//
//   {"reports": [{"template": "...", "checked": 123,
//     "findings":   [{"pack","ruleId","level","findingId","logicalId","path","info"}],
//     "suppressed": [{"pack","ruleId","findingId","logicalId","reason"}],
//     "failures":   [{"pack","ruleId","logicalId","error"}]}]}
//
// "findings" are the unsuppressed non-compliances, "failures" the rules that
// could not evaluate a resource (cdk-nag's CdkNagValidationFailure). Both are
// the caller's to judge: the exit status is non-zero only when the script
// itself cannot run (bad arguments, unreadable template, synthesis error).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { App, Aspects, BootstraplessSynthesizer, Stack } from 'aws-cdk-lib';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';

const packs = {
  Serverless: (props) => new ServerlessChecks(props),
  AwsSolutions: (props) => new AwsSolutionsChecks(props),
};

function usage(msg) {
  process.stderr.write(`check.mjs: ${msg}\nusage: node check.mjs [--packs ${Object.keys(packs).join(',')}] template.json...\n`);
  process.exit(2);
}

function parseArgs(argv) {
  let names = Object.keys(packs);
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--packs') {
      if (i + 1 >= argv.length) usage('--packs needs a value');
      names = argv[++i].split(',').filter(Boolean);
    } else if (argv[i].startsWith('--')) {
      usage(`unknown flag ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  for (const n of names) {
    if (!packs[n]) usage(`unknown pack ${n}`);
  }
  if (names.length === 0) usage('no pack');
  if (files.length === 0) usage('no template');
  return { names, files };
}

// Collector is a cdk-nag logger that records every outcome for one stack.
class Collector {
  constructor(stack) {
    this.stack = stack;
    this.checked = new Set();
    this.findings = [];
    this.suppressed = [];
    this.failures = [];
  }
  where(resource) {
    return { logicalId: this.stack.resolve(resource.logicalId), path: resource.node.path };
  }
  note(data) {
    this.checked.add(data.resource.node.path);
  }
  onCompliance(data) { this.note(data); }
  onNotApplicable(data) { this.note(data); }
  onNonCompliance(data) {
    this.note(data);
    this.findings.push({
      pack: data.nagPackName,
      ruleId: data.ruleId,
      level: data.ruleLevel,
      findingId: data.findingId,
      ...this.where(data.resource),
      info: data.ruleInfo,
    });
  }
  onSuppressed(data) {
    this.note(data);
    const { logicalId } = this.where(data.resource);
    this.suppressed.push({
      pack: data.nagPackName,
      ruleId: data.ruleId,
      findingId: data.findingId,
      logicalId,
      reason: data.suppressionReason,
    });
  }
  onError(data) {
    this.note(data);
    const { logicalId } = this.where(data.resource);
    this.failures.push({ pack: data.nagPackName, ruleId: data.ruleId, logicalId, error: data.errorMessage });
  }
  onSuppressedError(data) {
    this.onSuppressed({ ...data, findingId: '', suppressionReason: data.errorSuppressionReason });
  }
  report(template) {
    const byKey = (a, b) => JSON.stringify([a.logicalId, a.ruleId, a.findingId]).localeCompare(JSON.stringify([b.logicalId, b.ruleId, b.findingId]));
    return {
      template,
      checked: this.checked.size,
      findings: this.findings.sort(byKey),
      suppressed: this.suppressed.sort(byKey),
      failures: this.failures.sort(byKey),
    };
  }
}

function check(file, names, outdir) {
  const template = JSON.parse(readFileSync(file, 'utf8'));
  const app = new App({ outdir });
  // The template brings its own bootstrap version check and CDK metadata.
  const stack = new Stack(app, 'Checked', { synthesizer: new BootstraplessSynthesizer(), analyticsReporting: false });
  new CfnInclude(stack, 'Template', { templateFile: file });
  // Stack-wide suppressions live in the template's own Metadata.
  const stackSuppressions = template.Metadata?.cdk_nag;
  if (stackSuppressions) {
    stack.templateOptions.metadata = { ...(stack.templateOptions.metadata ?? {}), cdk_nag: stackSuppressions };
  }
  const collector = new Collector(stack);
  for (const n of names) {
    Aspects.of(app).add(packs[n]({ verbose: true, reports: false, additionalLoggers: [collector] }));
  }
  app.synth();
  return collector.report(file);
}

const { names, files } = parseArgs(process.argv.slice(2));
// aws-cdk-lib validates each template it synthesizes against CloudFormation's
// rules, which costs seconds a template; the Go app's own synthesis already
// did that for these templates, and only the nag packs are wanted here.
process.env.CDK_VALIDATION = 'false';
const outdir = mkdtempSync(join(tmpdir(), 'nag-check-'));
try {
  const reports = files.map((f, i) => check(f, names, join(outdir, String(i))));
  process.stdout.write(JSON.stringify({ reports }, null, 1) + '\n');
} catch (err) {
  process.stderr.write(`check.mjs: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
