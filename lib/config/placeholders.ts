import { DEFAULTS } from './defaults';
import { PlatformConfig } from './types';

/**
 * Names that can never be a real platform domain: the example names and top-level domains
 * reserved by RFC 2606 and RFC 6761 (example.com/.net/.org, .example, .test, .invalid,
 * .localhost). ACM can never validate a certificate for them, so a deploy with one would hang.
 */
const RESERVED_SUFFIXES = ['example.com', 'example.net', 'example.org', 'example', 'test', 'invalid', 'localhost'];

function isReservedName(domain: string): boolean {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return RESERVED_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`));
}

/**
 * The config values that are still placeholders, each naming the field, why it cannot deploy
 * and what to set instead. Empty when the config can go to an account. Synth stays possible
 * with placeholders (a fresh clone synthesizes); `npm run preflight` fails on any of these.
 */
export function placeholderProblems(config: Pick<PlatformConfig, 'domain' | 'hostedZoneId'> & { readonly alarms?: Pick<PlatformConfig['alarms'], 'emails'> }): string[] {
  const problems: string[] = [];
  if (isReservedName(config.domain)) {
    problems.push(
      `domain: "${config.domain}" is a reserved example name (RFC 2606/6761); ACM could never validate its certificates. Set "domain" to a name you own whose public hosted zone is "hostedZoneId".`,
    );
  }
  if (config.hostedZoneId === DEFAULTS.hostedZoneId || /EXAMPLE/.test(config.hostedZoneId)) {
    problems.push(
      `hostedZoneId: "${config.hostedZoneId}" is a placeholder. Set it to the id of the public hosted zone of "domain" (aws route53 list-hosted-zones-by-name --dns-name <domain>).`,
    );
  }
  // The repository's cdk.json names an example recipient so that a fresh clone synthesizes
  // (synth refuses alarms that reach nobody); mail to a reserved name reaches nobody either.
  (config.alarms?.emails ?? []).forEach((email, i) => {
    if (isReservedName(email.slice(email.lastIndexOf('@') + 1))) {
      problems.push(
        `alarms.emails[${i}]: "${email}" is at a reserved example domain and reaches nobody. Set alarms.emails to your on-call's addresses, or alarms.topicArns.<region> to your pager's topics (cdk.json's "edge:config", or your config file).`,
      );
    }
  });
  return problems;
}

/** Prints one warning per placeholder at synth (synth still succeeds: a fresh clone must synthesize). */
export function warnAboutPlaceholders(config: Parameters<typeof placeholderProblems>[0], warn: (line: string) => void = console.warn): number {
  const problems = placeholderProblems(config);
  for (const problem of problems) {
    warn(`[edge] warning: the platform config is not deployable yet: ${problem}`);
  }
  return problems.length;
}
