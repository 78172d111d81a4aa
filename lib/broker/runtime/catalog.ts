import { ParametersCheck, TargetPolicy, checkServiceParameters, explainHostnameProblems, serviceParametersSchema } from '../../model';

/**
 * The OSB catalog: one service, two plans. GUIDs are fixed forever (platforms store
 * them); the parameter schemas come from lib/model, the same ones that validate requests.
 */
export const SERVICE_ID = '5f6c1d5e-3b0a-4c51-9a55-0e6e8b6c2f10';
export const SERVICE_NAME = 'edge-load-balancer';
export const PLANS = {
  standard: { id: '8d0f0c47-6a26-4f1f-8a4e-1f7c9b2d6a01', name: 'standard' },
  cdn: { id: 'b3e2a7c9-1d4f-4e8b-9c6a-5a2f7d3e8b02', name: 'cdn' },
} as const;
export type PlanName = keyof typeof PLANS;
/** Bumped when instances need a maintenance update; requests naming another version get 422. */
export const MAINTENANCE_INFO = { version: '1.0.0', description: 'Envoy edge, xDS v3 routes' } as const;

export function planById(planId: string): PlanName | undefined {
  return (Object.keys(PLANS) as PlanName[]).find((name) => PLANS[name].id === planId);
}

function schemasFor(regions: readonly string[]) {
  return {
    service_instance: {
      create: { parameters: serviceParametersSchema({ regions, mode: 'create' }) },
      update: { parameters: serviceParametersSchema({ regions, mode: 'update' }) },
    },
    service_binding: { create: { parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false, properties: {} } } },
  };
}

export function catalog(regions: readonly string[]) {
  const schemas = schemasFor(regions);
  return {
    services: [
      {
        id: SERVICE_ID,
        name: SERVICE_NAME,
        description: 'Edge load balancing: Envoy proxies in every platform region route your hostnames to your backends.',
        bindable: true,
        instances_retrievable: true,
        bindings_retrievable: true,
        allow_context_updates: false,
        plan_updateable: true,
        tags: ['load-balancer', 'envoy', 'edge'],
        metadata: { displayName: 'Edge load balancer' },
        plans: [
          {
            id: PLANS.standard.id,
            name: PLANS.standard.name,
            description: 'Envoy edge in the chosen regions (default: all).',
            free: true,
            bindable: true,
            plan_updateable: true,
            maintenance_info: MAINTENANCE_INFO,
            schemas,
          },
          {
            id: PLANS.cdn.id,
            name: PLANS.cdn.name,
            description: 'The Envoy edge behind an Amazon CloudFront distribution (DDoS protection, caching). Hostnames must be under the platform domain.',
            free: false,
            bindable: true,
            plan_updateable: true,
            maintenance_info: MAINTENANCE_INFO,
            schemas,
          },
        ],
      },
    ],
  };
}

/**
 * The request validator: the very schema the catalog publishes (a malformed hostname is explained
 * in words, not as the schema's pattern), then Envoy's limits and the targets rule.
 */
export function checkParameters(input: unknown, regions: readonly string[], mode: 'create' | 'update', targets?: TargetPolicy): ParametersCheck {
  return explainHostnameProblems(checkServiceParameters(input, { regions, mode, targets }), input);
}
