import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildEdgeApp, EdgeApp } from '../../lib/app';
import { PlatformConfig, resolveConfig } from '../../lib/config';

export interface SynthOptions {
  /** Config document over the defaults (default: three regions, for speed; alarms to TEST_ALARM_EMAIL). */
  readonly config?: Record<string, unknown>;
  /** Run cdk-nag (default true): a test synth fails on any unacknowledged finding, like `cdk synth`. */
  readonly nag?: boolean;
  /** aws-cdk-lib's CloudFormation checks (default false in unit tests, for speed; on in the full synth test). */
  readonly cfnValidation?: boolean;
  /** Bundle Lambda code with esbuild (default false: unit tests check wiring, not bundles). */
  readonly bundle?: boolean;
}

export interface SynthResult {
  readonly app: App;
  readonly config: PlatformConfig;
  readonly edge: EdgeApp;
  template(stackName: string): Template;
}

export const TEST_REGIONS = ['us-east-1', 'us-west-1', 'ap-northeast-1'];
/** The alarm recipient of every test synth, unless the test's config sets `alarms`. */
export const TEST_ALARM_EMAIL = 'edge-oncall@example.com';

/** Synthesizes the whole app once; call it in `beforeAll` (one synth per test file). */
export function synthEdgeApp(options: SynthOptions = {}): SynthResult {
  const given = options.config ?? {};
  // Someone must receive the alarms or synth refuses (lib/config/alarm-recipients.ts).
  const alarms = { emails: [TEST_ALARM_EMAIL], ...(given.alarms as Record<string, unknown> | undefined) };
  // The delivery pipeline doubles the stacks (its stages hold copies): only the tests that ask for it.
  const pipeline = { enabled: false, ...(given.pipeline as Record<string, unknown> | undefined) };
  const config = resolveConfig({ regions: TEST_REGIONS, account: '123456789012', ...given, alarms, pipeline });
  const context: Record<string, unknown> = {
    ...require('../../cdk.json').context,
    '@aws-cdk/core:validateAgainstDefaultRules': options.cfnValidation ?? false,
  };
  if (!options.bundle) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context });
  const edge = buildEdgeApp(app, config);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  // aws-cdk-lib 2.273 switches its built-in CloudFormation validation off only through the environment.
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = options.cfnValidation ? 'true' : 'false';
  let assembly;
  try {
    assembly = app.synth();
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
  const synthesized = assembly;
  return {
    app,
    config,
    edge,
    template: (stackName) => Template.fromJSON(synthesized.getStackByName(stackName).template),
  };
}
