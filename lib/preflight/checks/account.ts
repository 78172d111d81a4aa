import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { placeholderProblems } from '../../config';
import { couldNotCheck, isNamed } from '../aws-errors';
import { CheckDefinition } from '../types';

/** The credentials work, and belong to the configured account. */
export const credentialsCheck: CheckDefinition = {
  id: 'credentials',
  scope: 'account',
  summary: 'AWS credentials work (STS GetCallerIdentity) and belong to config.account when it is set.',
  async run(ctx, region) {
    try {
      const identity = await new STSClient({ region }).send(new GetCallerIdentityCommand({}));
      ctx.account = identity.Account;
      if (ctx.config.account && identity.Account !== ctx.config.account) {
        return {
          status: 'fail',
          detail: `the credentials belong to account ${identity.Account} (${identity.Arn}), the config targets ${ctx.config.account}`,
          fix: `use credentials of account ${ctx.config.account} (AWS_PROFILE=...), or set "account" in the config to ${identity.Account}`,
        };
      }
      return { status: 'pass', detail: `account ${identity.Account} as ${identity.Arn}`, data: { account: identity.Account, arn: identity.Arn } };
    } catch (error) {
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
  },
};

/** The config holds no placeholder (the example domain and zone id synthesize, but never deploy). */
export const placeholdersCheck: CheckDefinition = {
  id: 'placeholders',
  scope: 'account',
  summary: 'The config names a real domain and hosted zone, not the placeholders a fresh clone synthesizes with (ACM would hang on validation).',
  async run(ctx) {
    const problems = placeholderProblems(ctx.config);
    if (!problems.length) return { status: 'pass', detail: `domain ${ctx.config.domain}, hosted zone ${ctx.config.hostedZoneId}` };
    return {
      status: 'fail',
      detail: problems.join(' '),
      fix: 'set "domain" to a name you own and "hostedZoneId" to the id of its public hosted zone, in a config file (--config, edge:configFile or EDGE_CONFIG_FILE; README "Configuration")',
    };
  },
};

/**
 * Service-linked roles a fresh account lacks. AWS creates each on first use, but a stack that
 * uses the service at once can race the creation (ECS: "Unable to assume the service linked
 * role"; Application Auto Scaling for the control plane's scalable target), and a stack cannot
 * own them (AWS::IAM::ServiceLinkedRole fails when the role exists, and deleting the stack would
 * delete a role the whole account uses). So they are a prerequisite: one command each.
 */
export const SERVICE_LINKED_ROLES: ReadonlyArray<{ readonly role: string; readonly service: string; readonly why: string }> = [
  { role: 'AWSServiceRoleForAutoScaling', service: 'autoscaling.amazonaws.com', why: 'the proxies\' Auto Scaling groups and their notifications' },
  { role: 'AWSServiceRoleForECS', service: 'ecs.amazonaws.com', why: 'the control plane\'s ECS services' },
  { role: 'AWSServiceRoleForApplicationAutoScaling_ECSService', service: 'ecs.application-autoscaling.amazonaws.com', why: 'the control plane\'s task count scaling' },
];

export const serviceLinkedRolesCheck: CheckDefinition = {
  id: 'service-linked-roles',
  scope: 'account',
  summary: `The service-linked roles exist: ${SERVICE_LINKED_ROLES.map((r) => r.role).join(', ')} (a first deploy would race their creation).`,
  async run(_ctx, region) {
    const iam = new IAMClient({ region });
    const missing: typeof SERVICE_LINKED_ROLES[number][] = [];
    for (const role of SERVICE_LINKED_ROLES) {
      try {
        await iam.send(new GetRoleCommand({ RoleName: role.role }));
      } catch (error) {
        if (isNamed(error, 'NoSuchEntity', 'NoSuchEntityException')) missing.push(role);
        else return { status: 'error', detail: couldNotCheck(error, region) };
      }
    }
    if (!missing.length) return { status: 'pass', detail: `all ${SERVICE_LINKED_ROLES.length} exist` };
    return {
      status: 'fail',
      detail: `missing: ${missing.map((r) => `${r.role} (${r.why})`).join(', ')}`,
      fix: missing.map((r) => `aws iam create-service-linked-role --aws-service-name ${r.service}`).join('\n'),
    };
  },
};

const dotless = (name: string) => name.toLowerCase().replace(/\.$/, '');

/**
 * The platform's hosted zone exists, is public, serves config.domain, and is the zone the
 * parent delegates to (the NS records resolvers get for the domain are the zone's name
 * servers): ACM validates the certificates through it and the regions' names live in it.
 */
export const hostedZoneCheck: CheckDefinition = {
  id: 'hosted-zone',
  scope: 'account',
  summary: 'config.hostedZoneId exists, is public, serves config.domain, and the parent zone delegates the domain to its name servers (ACM DNS validation needs it).',
  async run(ctx, region) {
    const { domain, hostedZoneId } = ctx.config;
    if (placeholderProblems(ctx.config).length) return { status: 'fail', detail: 'the config still holds placeholders (see the placeholders check)', fix: 'fix the placeholders check first' };
    let zone;
    try {
      zone = await new Route53Client({ region }).send(new GetHostedZoneCommand({ Id: hostedZoneId }));
    } catch (error) {
      if (isNamed(error, 'NoSuchHostedZone')) {
        return { status: 'fail', detail: `hosted zone ${hostedZoneId} does not exist in this account`, fix: `create it (aws route53 create-hosted-zone --name ${domain} --caller-reference $(date +%s)) and set "hostedZoneId" to its id, or set it to the existing zone's id (aws route53 list-hosted-zones-by-name --dns-name ${domain})` };
      }
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    const name = dotless(zone.HostedZone?.Name ?? '');
    if (zone.HostedZone?.Config?.PrivateZone) {
      return { status: 'fail', detail: `hosted zone ${hostedZoneId} (${name}) is private; the platform's names must resolve on the internet`, fix: `set "hostedZoneId" to the public zone of ${domain}` };
    }
    if (name !== dotless(domain)) {
      return { status: 'fail', detail: `hosted zone ${hostedZoneId} serves ${name}, not ${domain}`, fix: `set "hostedZoneId" to the zone of ${domain}, or "domain" to ${name}` };
    }
    const zoneServers = (zone.DelegationSet?.NameServers ?? []).map(dotless).sort();
    let delegated: string[];
    try {
      delegated = (await ctx.resolveNs(domain)).map(dotless).sort();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') delegated = [];
      else return { status: 'error', detail: `could not check the delegation: resolving NS of ${domain} failed (${code ?? (error as Error).message})` };
    }
    const data = { zoneNameServers: zoneServers, delegatedNameServers: delegated };
    if (!delegated.length || delegated.join() !== zoneServers.join()) {
      return {
        status: 'fail',
        detail: delegated.length
          ? `${domain} is delegated to ${delegated.join(', ')}, not to the zone's name servers ${zoneServers.join(', ')}`
          : `${domain} is not delegated: no NS records resolve for it`,
        fix: `in the parent zone of ${domain}, set its NS records to: ${zoneServers.join(' ')}`,
        data,
      };
    }
    return { status: 'pass', detail: `${hostedZoneId} is the public zone of ${domain}, delegated to its name servers (${zoneServers.join(', ')})`, data };
  },
};
