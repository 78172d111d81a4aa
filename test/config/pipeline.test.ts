import { ConfigError, DEFAULT_FLEET_REGIONS, loadConfig, pipelinePlaceholderProblems, resolveConfig } from '../../lib/config';

function problemsOf(input: unknown): string[] {
  try {
    resolveConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const CONNECTION = 'arn:aws:codeconnections:us-east-1:123456789012:connection/6f1b2c3d-1111-2222-3333-444455556666';
const THREE = ['us-east-1', 'eu-west-1', 'ap-northeast-1'];

describe('pipeline config', () => {
  test('defaults: on, branch main, a 30 minute bake, and the 13 default regions in waves of 1, 2, 4 and 6 in config order', () => {
    const { pipeline } = resolveConfig();
    expect(pipeline.enabled).toBe(true);
    expect(pipeline.source.branch).toBe('main');
    expect(pipeline.bakeMinutes).toBe(30);
    expect(pipeline.waves.map((w) => w.length)).toEqual([1, 2, 4, 6]);
    expect(pipeline.waves.flat()).toEqual(DEFAULT_FLEET_REGIONS);
    expect(pipeline.waves[0]).toEqual(['us-east-1']);
    expect(pipeline.waves[1]).toEqual(['us-east-2', 'us-west-1']);
  });

  test('fewer regions: the default waves stop when the regions run out', () => {
    expect(resolveConfig({ regions: THREE }).pipeline.waves).toEqual([['us-east-1'], ['eu-west-1', 'ap-northeast-1']]);
    expect(resolveConfig({ regions: ['eu-west-1'] }).pipeline.waves).toEqual([['eu-west-1']]);
    const nine = DEFAULT_FLEET_REGIONS.slice(0, 9);
    expect(resolveConfig({ regions: nine }).pipeline.waves.map((w) => w.length)).toEqual([1, 2, 4, 2]);
  });

  test('waves, source and bake from the config', () => {
    const { pipeline } = resolveConfig({
      regions: THREE,
      pipeline: { source: { connectionArn: CONNECTION, repository: 'corp/edge', branch: 'release/2026' }, waves: [['eu-west-1'], ['ap-northeast-1', 'us-east-1']], bakeMinutes: 10 },
    });
    expect(pipeline.waves).toEqual([['eu-west-1'], ['ap-northeast-1', 'us-east-1']]);
    expect(pipeline.source).toEqual({ connectionArn: CONNECTION, repository: 'corp/edge', branch: 'release/2026' });
    expect(pipeline.bakeMinutes).toBe(10);
    expect(pipelinePlaceholderProblems(pipeline)).toEqual([]);
  });

  test('the older codestar-connections ARN is accepted too', () => {
    const arn = 'arn:aws:codestar-connections:eu-west-1:123456789012:connection/6f1b2c3d-1111-2222-3333-444455556666';
    expect(resolveConfig({ pipeline: { source: { connectionArn: arn } } }).pipeline.source.connectionArn).toBe(arn);
  });

  test('a region in two waves names both places', () => {
    expect(problemsOf({ regions: THREE, pipeline: { waves: [['us-east-1'], ['eu-west-1', 'us-east-1'], ['ap-northeast-1']] } })).toEqual([
      'pipeline.waves[1][1]: us-east-1 is already in pipeline.waves[0][0]; a region deploys in exactly one wave',
    ]);
  });

  test('a region in no wave is named', () => {
    const problems = problemsOf({ regions: THREE, pipeline: { waves: [['us-east-1'], ['eu-west-1']] } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^pipeline\.waves: ap-northeast-1 is in no wave; every fleet region deploys in exactly one wave/);
  });

  test('an unknown region, or one that is not a fleet region, is named with its place', () => {
    const problems = problemsOf({ regions: THREE, pipeline: { waves: [['us-east-1'], ['eu-west-1', 'eu-west-9', 'ap-northeast-1'], ['us-west-2']] } });
    expect(problems).toEqual([
      'pipeline.waves[1][1]: eu-west-9 is not a fleet region of the platform (regions: us-east-1, eu-west-1, ap-northeast-1)',
      'pipeline.waves[2][0]: us-west-2 is not a fleet region of the platform (regions: us-east-1, eu-west-1, ap-northeast-1)',
    ]);
    expect(problemsOf({ pipeline: { waves: [['not a region']] } })[0]).toMatch(/^pipeline\.waves\[0\]\[0\]: must match pattern/);
  });

  test('shape errors name the field', () => {
    expect(problemsOf({ pipeline: { waves: [[]] } })).toEqual(['pipeline.waves[0]: must NOT have fewer than 1 items']);
    expect(problemsOf({ pipeline: { bakeMinutes: -1 } })).toEqual(['pipeline.bakeMinutes: must be >= 0']);
    expect(problemsOf({ pipeline: { source: { connectionArn: 'arn:aws:iam::123456789012:role/x' } } })[0]).toMatch(/^pipeline\.source\.connectionArn: must match pattern/);
    expect(problemsOf({ pipeline: { source: { repository: 'no-owner' } } })[0]).toMatch(/^pipeline\.source\.repository: must match pattern/);
    expect(problemsOf({ pipeline: { stages: [] } })).toEqual(['pipeline: unknown field "stages"']);
  });

  test('the default source is a placeholder while the pipeline is on, and nothing to warn about when it is off', () => {
    const problems = pipelinePlaceholderProblems(resolveConfig().pipeline);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['pipeline.source.connectionArn', 'pipeline.source.repository']);
    expect(pipelinePlaceholderProblems(resolveConfig({ pipeline: { enabled: false } }).pipeline)).toEqual([]);
  });

  test('layers merge the pipeline field by field (a file sets the source, context turns it off)', () => {
    const config = loadConfig((key) => (key === 'edge:config' ? { pipeline: { enabled: false, bakeMinutes: 5 } } : undefined), {});
    expect(config.pipeline.enabled).toBe(false);
    expect(config.pipeline.bakeMinutes).toBe(5);
    expect(config.pipeline.source.branch).toBe('main');
  });
});
