/** Small readers over synthesized CloudFormation templates (plain JSON). */

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  UpdatePolicy?: Record<string, unknown>;
  CreationPolicy?: Record<string, unknown>;
  DependsOn?: unknown;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Parameters?: Record<string, { Type: string; Default?: unknown; NoEcho?: boolean }>;
  Outputs?: Record<string, unknown>;
}

export function resourcesOfType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

export function onlyResourceOfType(template: CfnTemplate, type: string): [string, CfnResource] {
  const found = resourcesOfType(template, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0];
}

/** Renders a `{Fn::Join: ['', parts]}` (or a plain string) with `${Ref}` / `${Id.Attr}` for the intrinsics. */
export function renderJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) return renderIntrinsic(value);
  return join[1].map((part) => (typeof part === 'string' ? part : renderIntrinsic(part))).join(join[0]);
}

function renderIntrinsic(value: unknown): string {
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  if (v.Ref) return `\${${v.Ref}}`;
  if (v['Fn::GetAtt']) return `\${${v['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(value);
}

/** Tag list of a resource as a map (CloudFormation `Tags` or `HealthCheckTags`; `AWS::SSM::Parameter` has a map already). */
export function tagsOf(resource: CfnResource): Record<string, unknown> | undefined {
  const tags = resource.Properties?.Tags;
  if (resource.Type === 'AWS::SSM::Parameter') return tags && typeof tags === 'object' && !Array.isArray(tags) ? (tags as Record<string, unknown>) : undefined;
  const ownSpec = (resource.Properties?.TagSpecifications as Array<{ ResourceType: string; Tags: unknown }> | undefined)?.find(
    (spec) => spec.ResourceType === 'launch-template',
  );
  const list = (resource.Properties?.Tags ?? resource.Properties?.HealthCheckTags ?? ownSpec?.Tags) as Array<{ Key: string; Value: unknown }> | undefined;
  if (!Array.isArray(list)) return undefined;
  return Object.fromEntries(list.map((t) => [t.Key, t.Value]));
}

/** Every statement of every IAM policy resource attached to `roleLogicalId`. */
export function statementsOfRole(template: CfnTemplate, roleLogicalId: string): Array<Record<string, unknown>> {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${roleLogicalId}"`))
    .flatMap(([, p]) => (p.Properties?.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement);
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
