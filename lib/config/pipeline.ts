import { PipelineConfig, RegionConfig } from './types';

/**
 * The `pipeline` section: where the delivery pipeline (lib/pipeline) takes its source from and
 * in which waves it deploys the fleet regions. Runtime-free: no CDK here.
 */

/** A connection ARN no account has: synth warns about it, and the pipeline cannot pull with it. */
export const PLACEHOLDER_CONNECTION_ARN = 'arn:aws:codeconnections:us-east-1:000000000000:connection/00000000-0000-0000-0000-000000000000';
export const PLACEHOLDER_REPOSITORY = 'your-org/edge-platform';

export const PIPELINE_DEFAULTS = {
  enabled: true,
  source: {
    connectionArn: PLACEHOLDER_CONNECTION_ARN,
    repository: PLACEHOLDER_REPOSITORY,
    branch: 'main',
  },
  bakeMinutes: 30,
};

/** Default wave sizes after the broker: one canary region, then 2, then 4, then the rest. */
export const DEFAULT_WAVE_SIZES: readonly number[] = [1, 2, 4];

/**
 * The default waves for fleet regions in config order: the first region alone (the canary),
 * then 2, then 4, then every region left (13 regions: 1 → 2 → 4 → 6).
 */
export function defaultWaves(regions: readonly string[]): string[][] {
  const waves: string[][] = [];
  let next = 0;
  for (const size of DEFAULT_WAVE_SIZES) {
    if (next >= regions.length) break;
    waves.push(regions.slice(next, next + size));
    next += size;
  }
  if (next < regions.length) waves.push(regions.slice(next));
  return waves;
}

export interface PipelineInput {
  enabled?: boolean;
  source?: Partial<PipelineConfig['source']>;
  waves?: string[][];
  bakeMinutes?: number;
}

/**
 * The validated pipeline section. Every fleet region deploys in exactly one wave; a problem
 * names the field (`pipeline.waves[i][j]`) and the rule, and is pushed to `problems`.
 */
export function resolvePipeline(input: PipelineInput | undefined, regions: readonly RegionConfig[], problems: string[]): PipelineConfig {
  const given = input ?? {};
  const fleetRegions = regions.map((r) => r.region);
  const waves = given.waves ?? defaultWaves(fleetRegions);
  if (given.waves) {
    const known = new Set(fleetRegions);
    const firstSeen = new Map<string, string>();
    given.waves.forEach((wave, i) =>
      wave.forEach((region, j) => {
        const field = `pipeline.waves[${i}][${j}]`;
        if (!known.has(region)) {
          problems.push(`${field}: ${region} is not a fleet region of the platform (regions: ${fleetRegions.join(', ')})`);
          return;
        }
        const earlier = firstSeen.get(region);
        if (earlier) problems.push(`${field}: ${region} is already in ${earlier}; a region deploys in exactly one wave`);
        else firstSeen.set(region, field);
      }),
    );
    const missing = fleetRegions.filter((r) => !firstSeen.has(r));
    if (missing.length) {
      problems.push(`pipeline.waves: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} in no wave; every fleet region deploys in exactly one wave (add ${missing.length === 1 ? 'it' : 'them'} to a wave, or leave pipeline.waves out for the default 1 → 2 → 4 → rest)`);
    }
  }
  return {
    enabled: given.enabled ?? PIPELINE_DEFAULTS.enabled,
    source: { ...PIPELINE_DEFAULTS.source, ...given.source },
    waves,
    bakeMinutes: given.bakeMinutes ?? PIPELINE_DEFAULTS.bakeMinutes,
  };
}

/**
 * The pipeline's values that are still placeholders, when the pipeline is on. Synth warns about
 * them (a fresh clone must synthesize); a pipeline deployed with them cannot pull its source.
 */
export function pipelinePlaceholderProblems(pipeline: PipelineConfig): string[] {
  if (!pipeline.enabled) return [];
  const problems: string[] = [];
  if (pipeline.source.connectionArn === PLACEHOLDER_CONNECTION_ARN) {
    problems.push(
      'pipeline.source.connectionArn: a placeholder. Create a connection to your repository host (console: Developer Tools > Settings > Connections; it must be AVAILABLE) and set its ARN, or set "pipeline": {"enabled": false} to deploy without the pipeline.',
    );
  }
  if (pipeline.source.repository === PLACEHOLDER_REPOSITORY) {
    problems.push('pipeline.source.repository: a placeholder. Set it to the repository the connection reads, as owner/name.');
  }
  return problems;
}
