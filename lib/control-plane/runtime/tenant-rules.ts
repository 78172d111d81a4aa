/**
 * The tenant rules on every render (issue 13, "enforced three times": the broker, the
 * control plane, the proxy host). The route table has writers other than the broker (the
 * S3 and file context documents, an operator's hand, a broker of an older version), so
 * the control plane applies the broker's own rules again to every service it renders,
 * from any source, before any template sees it:
 * - targets the edge may not reach (lib/model/targets.ts): `backends[].address` and
 *   `auth.ext_authz.address` against loopback, link-local, 0/8, multicast, the fleet
 *   CIDRs (EDGE_FLEET_CIDRS) and the platform's own names;
 * - Envoy's own limits (lib/model/envoy-limits.ts): header names and values, RE2 syntax
 *   and program size, CIDRs;
 * - hostnames that are the platform's own (`<domain>`, `<region>.<domain>`,
 *   `*.internal.<domain>`, a wildcard at or above the domain: lib/model/hostnames.ts).
 *
 * An offending instance is excluded (none of its generations is rendered while it
 * offends: no last good generation is held for it, as the rule may have been broken all
 * along), logged once per generation, counted, and reported with the field and the rule
 * in /status (`tenantRules.excluded`). The policy comes from the process (its environment),
 * never from a context source, so a source cannot switch the rule off.
 */
import { RouteDocument } from '../../model';
import { envoyLimitProblems, regexProblem } from '../../model/envoy-limits';
import { hostnameRuleProblem } from '../../model/hostnames';
import { TargetPolicy, TargetRule, checkTarget, parseIpv4Cidr } from '../../model/targets';
import { Logger } from './logger';

/** Which rule a problem broke: a target rule (targets.ts), an Envoy limit, a platform hostname, or a route that cannot be read. */
export type TenantRule = TargetRule | 'envoy-regex' | 'envoy-header-name' | 'envoy-header-value' | 'envoy-cidr' | 'platform-hostname' | 'malformed';

export interface TenantRuleProblem {
  /** The parameter, as the broker names it: `backends[0].address`. */
  readonly field: string;
  readonly rule: TenantRule;
  readonly message: string;
}

export interface TenantRuleExclusion {
  readonly instanceId: string;
  readonly generation: number;
  readonly plan: string;
  readonly problems: readonly TenantRuleProblem[];
  /** When this generation was first excluded. */
  readonly since: string;
}

/** The rule settings: the target policy (domain, fleet CIDRs, loopback waiver) and the region (its `<region>.<domain>`). */
export interface TenantRulePolicy extends TargetPolicy {
  readonly region: string;
}

function envoyRule(field: string): TenantRule {
  if (field.endsWith('.safe_regex')) return 'envoy-regex';
  if (field.startsWith('ip_allow_list')) return 'envoy-cidr';
  // `..._to_add[":path"]` names a key; `..._to_add.x-a` its value; `..._to_remove[0]` a name.
  if (/_to_add\./.test(field)) return 'envoy-header-value';
  return 'envoy-header-name';
}

const REGEX_CACHE_LIMIT = 10_000;
const regexProblems = new Map<string, string | null>();

/** `regexProblem` (envoy-limits.ts), remembered by pattern: a pure function of the pattern. */
function cachedRegexProblem(pattern: string): string | undefined {
  let problem = regexProblems.get(pattern);
  if (problem === undefined) {
    if (regexProblems.size >= REGEX_CACHE_LIMIT) regexProblems.clear();
    problem = regexProblem(pattern) ?? null;
    regexProblems.set(pattern, problem);
  }
  return problem ?? undefined;
}

/** Every tenant rule the route breaks, each naming the field and the rule; empty when it may be rendered. */
export function tenantRuleProblems(route: RouteDocument, policy: TenantRulePolicy): TenantRuleProblem[] {
  const problems: TenantRuleProblem[] = [];
  try {
    const spec = route.spec;
    spec.backends.forEach((backend, i) => {
      const refusal = checkTarget(backend.address, 'backend', policy);
      if (refusal) problems.push({ field: `backends[${i}].address`, rule: refusal.rule, message: refusal.reason });
    });
    const authz = spec.auth?.ext_authz;
    if (authz) {
      const refusal = checkTarget(authz.address, 'ext_authz', policy);
      if (refusal) problems.push({ field: 'auth.ext_authz.address', rule: refusal.rule, message: refusal.reason });
    }
    // RE2 is asked once per distinct pattern (about 1 ms each); the rest of Envoy's limits as the broker checks them.
    const withoutRegexes = { ...spec, routes: spec.routes?.map((rule) => ({ ...rule, match: { ...rule.match, safe_regex: undefined } })) };
    for (const problem of envoyLimitProblems(withoutRegexes)) problems.push({ field: problem.field, rule: envoyRule(problem.field), message: problem.message });
    spec.routes?.forEach((rule, i) => {
      const problem = rule.match?.safe_regex === undefined ? undefined : cachedRegexProblem(rule.match.safe_regex);
      if (problem) problems.push({ field: `routes[${i}].match.safe_regex`, rule: 'envoy-regex', message: problem });
    });
    const platform = { domain: policy.domain, regions: [policy.region] };
    spec.hostnames.forEach((name, i) => {
      const problem = typeof name === 'string' ? hostnameRuleProblem(name.toLowerCase(), platform) : 'is not a string';
      // Only the platform's own names: the broker's other name rules (depth, public suffixes,
      // ownership) decide what a tenant may claim, not what is safe to render.
      if (problem && (problem.startsWith('is reserved') || problem.startsWith('a wildcard at or above') || problem === 'is not a string')) {
        problems.push({ field: `hostnames[${i}]`, rule: 'platform-hostname', message: `${JSON.stringify(name)} ${problem}` });
      }
    });
  } catch (err) {
    problems.push({ field: 'spec', rule: 'malformed', message: `cannot be checked: ${(err as Error).message}` });
  }
  return problems;
}

/**
 * Keeps the exclusions of the current context: what /status shows, what the metrics
 * count. `admit` is the one hook in the render path.
 */
export class TenantRules {
  private readonly current = new Map<string, TenantRuleExclusion>();
  /** Checks by instance and generation (a route's generation changes on every write). */
  private readonly checked = new Map<string, { generation: number; problems: TenantRuleProblem[] }>();
  /** Instance generations excluded since start (each counted once). */
  exclusionsTotal = 0;

  constructor(
    readonly policy: TenantRulePolicy,
    private readonly logger: Logger,
  ) {}

  /** The routes that may be rendered; the others are recorded as excluded. */
  admit(routes: readonly RouteDocument[]): RouteDocument[] {
    const ids = new Set(routes.map((r) => r.instanceId));
    for (const id of [...this.current.keys()]) if (!ids.has(id)) this.current.delete(id);
    for (const id of [...this.checked.keys()]) if (!ids.has(id)) this.checked.delete(id);
    const admitted: RouteDocument[] = [];
    for (const route of routes) {
      let check = this.checked.get(route.instanceId);
      if (!check || check.generation !== route.generation) {
        check = { generation: route.generation, problems: tenantRuleProblems(route, this.policy) };
        this.checked.set(route.instanceId, check);
      }
      if (check.problems.length === 0) {
        this.current.delete(route.instanceId);
        admitted.push(route);
        continue;
      }
      const known = this.current.get(route.instanceId);
      if (known?.generation === route.generation) continue;
      this.current.set(route.instanceId, { instanceId: route.instanceId, generation: route.generation, plan: route.plan, problems: check.problems, since: new Date().toISOString() });
      this.exclusionsTotal++;
      this.logger.log('error', 'instance excluded by the tenant rules: never rendered; the rest of the snapshot is served', {
        instanceId: route.instanceId,
        generation: route.generation,
        problems: check.problems.slice(0, 10),
      });
    }
    return admitted;
  }

  /** The instances excluded now. */
  excluded(): TenantRuleExclusion[] {
    return [...this.current.values()].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  }

  /** What /status shows: the policy in force and the excluded instances. */
  status(): Record<string, unknown> {
    const { domain, fleetCidrs, allowLoopbackBackends, region } = this.policy;
    return { policy: { domain, region, fleetCidrs, allowLoopbackBackends }, excluded: this.excluded() };
  }

  /** Prometheus lines (appended to /metrics). */
  metricsText(): string {
    return [
      '# HELP edge_tenant_rule_exclusions_total Instance generations excluded by the tenant rules (targets, Envoy limits, platform names).',
      '# TYPE edge_tenant_rule_exclusions_total counter',
      `edge_tenant_rule_exclusions_total ${this.exclusionsTotal}`,
      '# HELP edge_tenant_rule_excluded_instances Instances excluded by the tenant rules now.',
      '# TYPE edge_tenant_rule_excluded_instances gauge',
      `edge_tenant_rule_excluded_instances ${this.current.size}`,
      '',
    ].join('\n');
  }
}

/**
 * `EDGE_FLEET_CIDRS`: the fleet VPCs' IPv4 CIDRs, comma-separated. Required in AWS
 * (main.ts): without it the fleet rule would be silently off, so the control plane refuses
 * to start rather than render targets in the fleet's network.
 */
export function fleetCidrsFromEnv(env: NodeJS.ProcessEnv): string[] {
  const text = env.EDGE_FLEET_CIDRS?.trim();
  if (!text) throw new Error('environment variable EDGE_FLEET_CIDRS is required (the fleet VPCs no tenant target may reach)');
  return text.split(',').map((cidr, i) => {
    const value = cidr.trim();
    if (!parseIpv4Cidr(value)) throw new Error(`EDGE_FLEET_CIDRS[${i}]: ${JSON.stringify(value)} is not an IPv4 CIDR (a.b.c.d/n)`);
    return value;
  });
}
