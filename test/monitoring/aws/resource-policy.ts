/**
 * Evaluates resource policies (an SNS topic policy, a KMS key policy) for one request the way
 * AWS's policy evaluation logic does: an explicit Deny that matches wins, else an Allow that
 * matches allows, else the request is implicitly denied (IAM User Guide, "Policy evaluation
 * logic"). Covers what our templates use: Principal `*` / {AWS} / {Service}, Action and Resource
 * with `*` wildcards (actions case-insensitive), and the condition operators StringEquals,
 * StringLike, ArnEquals, ArnLike, their Not forms and Bool (condition keys case-insensitive; a
 * key absent from the request never matches a positive operator and always matches a negated
 * one). Anything else (NotPrincipal, NotAction, another operator) throws, so that a policy this
 * model does not understand fails the test instead of passing it.
 */

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action?: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[] | boolean>>;
  readonly [other: string]: unknown;
}

export interface PolicyRequest {
  /** `{ service: 'cloudwatch.amazonaws.com' }` or `{ aws: 'arn:aws:iam::111122223333:root' }`. */
  readonly principal: { readonly service?: string; readonly aws?: string };
  readonly action: string;
  readonly resource: string;
  /** Request context keys (`aws:SourceAccount`, `aws:SourceArn`, `aws:SecureTransport`...). */
  readonly context: Readonly<Record<string, string>>;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** `*` and `?` glob (IAM's wildcard matching), whole string. */
function glob(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, caseInsensitive ? 'i' : '');
  return re.test(value);
}

function principalMatches(principal: unknown, request: PolicyRequest): boolean {
  if (principal === '*') return true;
  if (!principal || typeof principal !== 'object') throw new Error(`principal ${JSON.stringify(principal)} is not modelled`);
  for (const [kind, values] of Object.entries(principal as Record<string, unknown>)) {
    for (const value of list(values as string | string[])) {
      if (kind === 'AWS' && value === '*') return true;
      if (kind === 'Service' && request.principal.service === value) return true;
      if (kind === 'AWS' && request.principal.aws !== undefined) {
        const account = /^\d{12}$/.test(value) ? value : /^arn:[^:]+:iam::(\d{12}):root$/.exec(value)?.[1];
        if (value === request.principal.aws || (account && request.principal.aws.split(':')[4] === account)) return true;
      }
      if (kind !== 'AWS' && kind !== 'Service') throw new Error(`principal kind ${kind} is not modelled`);
    }
  }
  return false;
}

function conditionMatches(condition: PolicyStatement['Condition'], context: Readonly<Record<string, string>>): boolean {
  const lowered = Object.fromEntries(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      const actual = lowered[key.toLowerCase()];
      const values = list(expected as string | string[]).map(String);
      let matched: boolean;
      switch (operator) {
        case 'StringEquals':
        case 'ArnEquals':
          matched = actual !== undefined && values.includes(actual);
          break;
        case 'StringLike':
        case 'ArnLike':
          matched = actual !== undefined && values.some((v) => glob(v, actual));
          break;
        case 'StringNotEquals':
        case 'ArnNotEquals':
          matched = actual === undefined || !values.includes(actual);
          break;
        case 'StringNotLike':
        case 'ArnNotLike':
          matched = actual === undefined || !values.some((v) => glob(v, actual));
          break;
        case 'Bool':
          matched = actual !== undefined && values.map((v) => v.toLowerCase()).includes(actual.toLowerCase());
          break;
        default:
          throw new Error(`condition operator ${operator} is not modelled`);
      }
      if (!matched) return false;
    }
  }
  return true;
}

function statementMatches(statement: PolicyStatement, request: PolicyRequest): boolean {
  for (const unsupported of ['NotPrincipal', 'NotAction', 'NotResource']) {
    if (statement[unsupported] !== undefined) throw new Error(`${unsupported} is not modelled (statement ${statement.Sid ?? ''})`);
  }
  return (
    principalMatches(statement.Principal, request) &&
    list(statement.Action).some((a) => glob(a, request.action, true)) &&
    list(statement.Resource).some((r) => glob(r, request.resource)) &&
    conditionMatches(statement.Condition, request.context)
  );
}

export function evaluate(statements: readonly PolicyStatement[], request: PolicyRequest): Decision {
  const matching = statements.filter((s) => statementMatches(s, request));
  if (matching.some((s) => s.Effect === 'Deny')) return 'explicit-deny';
  return matching.some((s) => s.Effect === 'Allow') ? 'allow' : 'implicit-deny';
}

/**
 * The access policy SNS gives a topic that has no topic policy of its own: every principal of
 * the owner account may use the topic, via the `AWS:SourceOwner` condition (SNS Developer
 * Guide, "Example cases for Amazon SNS access control" and the default policy shown by
 * GetTopicAttributes). An AWS::SNS::TopicPolicy replaces it entirely.
 */
export function defaultTopicPolicy(topicArn: string, ownerAccount: string): PolicyStatement[] {
  return [
    {
      Sid: '__default_statement_ID',
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: ['SNS:GetTopicAttributes', 'SNS:SetTopicAttributes', 'SNS:AddPermission', 'SNS:RemovePermission', 'SNS:DeleteTopic', 'SNS:Subscribe', 'SNS:ListSubscriptionsByTopic', 'SNS:Publish'],
      Resource: topicArn,
      Condition: { StringEquals: { 'AWS:SourceOwner': ownerAccount } },
    },
  ];
}
