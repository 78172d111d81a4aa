import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DEFAULT_FLEET_REGIONS } from '../lib/config';
import { CDK_BOOTSTRAP_PARAMETER, MIN_BOOTSTRAP_VERSION } from '../lib/preflight/checks/region';
import { synthEdgeApp, SynthResult } from './support/synth';

// The whole default app (13 fleet regions + broker), synthesized once with cdk-nag and
// aws-cdk-lib's CloudFormation validation on, like `cdk synth`: an unacknowledged finding or a
// validation error throws here.
let full: SynthResult;

beforeAll(() => {
  full = synthEdgeApp({ config: { regions: [...DEFAULT_FLEET_REGIONS] }, cfnValidation: true });
});

describe('the whole app', () => {
  test('default config: one fleet stack per region (13) plus the table and broker stacks, cdk-nag and CloudFormation validation clean', () => {
    const stacks = full.app.synth().stacks.map((s) => s.stackName);
    expect(full.edge.fleets.map((s) => s.stackName)).toEqual(DEFAULT_FLEET_REGIONS.map((r) => `edge-fleet-${r}`));
    expect(full.edge.fleets).toHaveLength(13);
    expect(stacks.sort()).toEqual(['edge-broker', 'edge-table', ...DEFAULT_FLEET_REGIONS.map((r) => `edge-fleet-${r}`)].sort());
    expect(full.edge.broker.region).toBe('us-east-1');
    expect(full.edge.table.region).toBe('us-east-1');
    for (const fleet of full.edge.fleets) expect(fleet.region).toBe(fleet.stackName.replace('edge-fleet-', ''));
  });

  test('synth is hermetic: no context lookups were needed', () => {
    expect(full.app.synth().manifest.missing).toBeUndefined();
  });

  test('every fleet stack stays well under the CloudFormation resource limit', () => {
    for (const fleet of full.edge.fleets) {
      const count = Object.keys(full.template(fleet.stackName).toJSON().Resources).length;
      expect([fleet.stackName, count < 400]).toEqual([fleet.stackName, true]);
    }
  });

  test('docs/proxy-fleet.md states the resource counts of the fleet stacks as synthesized', () => {
    const doc = readFileSync(join(__dirname, '..', 'docs', 'proxy-fleet.md'), 'utf8');
    const row = (label: string) => {
      const match = new RegExp(`^\\| ${label.replace(/[()]/g, '\\$&')}[^|]* \\| (\\d+) \\| (\\d+) \\| (\\d+) \\| (\\d+) \\|$`, 'm').exec(doc);
      expect([label, match !== null]).toEqual([label, true]);
      return match!.slice(1).map(Number);
    };
    const counts = (region: string) => {
      const ids = Object.keys(full.template(`edge-fleet-${region}`).toJSON().Resources);
      const controlPlane = ids.filter((id) => id.startsWith('ControlPlane')).length;
      const monitoring = ids.filter((id) => id.startsWith('Monitoring')).length;
      return [ids.length, controlPlane, monitoring, ids.length - controlPlane - monitoring];
    };
    expect(counts('us-east-1')).toEqual(row('3 zones (12 of the 13 default regions)'));
    expect(counts('us-west-1')).toEqual(row('2 zones (us-west-1)'));
  });

  test('a 3-region config gives 3 fleet stacks with no code edit', () => {
    const three = synthEdgeApp({ config: { regions: ['eu-west-1', 'us-west-1', 'ap-northeast-1'] }, nag: false });
    expect(three.edge.fleets.map((s) => s.stackName)).toEqual(['edge-fleet-eu-west-1', 'edge-fleet-us-west-1', 'edge-fleet-ap-northeast-1']);
    expect(three.app.synth().stacks).toHaveLength(5);
  });

  test('deploy order: the table first, then the broker, then every fleet (cdk deploy --all follows the dependencies)', () => {
    const assembly = full.app.synth();
    const dependencies = (name: string) => assembly.getStackByName(name).dependencies.map((d) => d.id).filter((id) => !id.endsWith('.assets')).sort();
    expect(dependencies('edge-table')).toEqual([]);
    expect(dependencies('edge-broker')).toEqual(['edge-table']);
    for (const fleet of full.edge.fleets) expect([fleet.stackName, dependencies(fleet.stackName)]).toEqual([fleet.stackName, ['edge-broker', 'edge-table']]);
  });

  test('no stack references another (no exports): a dependency orders deployments, it never locks a resource', () => {
    for (const stack of full.app.synth().stacks) {
      const text = JSON.stringify(stack.template);
      expect([stack.stackName, text.includes('Fn::ImportValue'), Object.values(stack.template.Outputs ?? {}).some((o) => (o as { Export?: unknown }).Export)]).toEqual([stack.stackName, false, false]);
    }
  });

  test('a failed first deploy can be retried: nothing is kept by its rollback but buckets (RetainExceptOnCreate)', () => {
    const retained: string[] = [];
    for (const stack of full.app.synth().stacks) {
      for (const [id, resource] of Object.entries(stack.template.Resources as Record<string, { Type: string; DeletionPolicy?: string; Properties?: Record<string, unknown> }>)) {
        if (resource.DeletionPolicy === 'Retain') retained.push(`${stack.stackName}/${id} ${resource.Type}`);
        // A fixed name kept by a rollback is what blocks the retry ("already exists").
        const fixedName = resource.Properties?.LogGroupName ?? resource.Properties?.TableName;
        if (fixedName !== undefined && typeof fixedName === 'string') {
          expect([stack.stackName, id, resource.DeletionPolicy]).toEqual([stack.stackName, id, 'RetainExceptOnCreate']);
        }
      }
    }
    // Only buckets (generated names; a rollback cannot delete one that received logs).
    expect(retained.filter((r) => !r.endsWith(' AWS::S3::Bucket'))).toEqual([]);
  });

  test('the preflight asks for the bootstrap version and parameter the synthesized stacks require', () => {
    const manifest = full.app.synth().manifest;
    const required = Object.values(manifest.artifacts ?? {}).flatMap((a) => {
      const props = (a.properties ?? {}) as { requiresBootstrapStackVersion?: number; bootstrapStackVersionSsmParameter?: string };
      return props.requiresBootstrapStackVersion ? [[props.requiresBootstrapStackVersion, props.bootstrapStackVersionSsmParameter]] : [];
    });
    expect(required.length).toBeGreaterThan(0);
    expect(Math.max(...required.map(([version]) => version as number))).toBe(MIN_BOOTSTRAP_VERSION);
    expect(new Set(required.map(([, parameter]) => parameter))).toEqual(new Set([CDK_BOOTSTRAP_PARAMETER]));
  });

  test('a bad config value fails with a message naming the field and the rule', () => {
    const attempt = () => synthEdgeApp({ config: { regions: ['us-east-1', 'me-central-1'] }, nag: false });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/regions\[1\].availabilityZoneIds: required for me-central-1, which has no known default zones/);
    expect(() => synthEdgeApp({ config: { fleet: { instanceType: 'c7i.large' } }, nag: false })).toThrow(/fleet\.instanceType: "c7i\.large" is not a Graviton/);
  });
});
