/**
 * Readers over synthesized CloudFormation templates (plain JSON), shared by every template
 * test: resources by type, the one resource of a type, a logical id by prefix, IAM statements.
 * Each takes a template (`{ Resources }`) or its resource map; `templateHelpers` binds them to a
 * template a test file synthesizes in `beforeAll`.
 */

export interface CfnResource {
  Type: string;
  /** Absent on a few resource types; the tests read only resources that have them. */
  Properties: Record<string, unknown>;
  UpdatePolicy?: Record<string, unknown>;
  CreationPolicy?: Record<string, unknown>;
  DependsOn?: unknown;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export type Resources = Record<string, CfnResource>;
export interface CfnTemplate {
  Resources: Resources;
  Parameters?: Record<string, { Type: string; Default?: unknown; NoEcho?: boolean }>;
  Outputs?: Record<string, unknown>;
}
/** A template or its resource map. */
export type TemplateSource = CfnTemplate | Resources;

const resourcesOf = (source: TemplateSource): Resources =>
  'Resources' in source && typeof source.Resources === 'object' && !('Type' in (source.Resources as object)) ? (source as CfnTemplate).Resources : (source as Resources);

/** Every resource of the given types, as [logical id, resource]. */
export function ofType(source: TemplateSource, ...types: string[]): Array<[string, CfnResource]> {
  return Object.entries(resourcesOf(source)).filter(([, r]) => types.includes(r.Type));
}

/** The one resource of a type; throws naming the type and how many there are. */
export function only(source: TemplateSource, type: string): [string, CfnResource] {
  const found = ofType(source, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}${found.length ? ` (${found.map(([id]) => id).join(', ')})` : ''}`);
  return found[0];
}

/** The logical id of the one resource of `type` whose id starts with `prefix`; throws otherwise. */
export function idOf(source: TemplateSource, prefix: string, type: string): string {
  const found = ofType(source, type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected exactly one ${type} whose logical id starts with ${prefix}, found ${found.length}${found.length ? ` (${found.map(([id]) => id).join(', ')})` : ''}`);
  return found[0][0];
}

/**
 * The readers bound to the template a test file synthesizes in `beforeAll` (read when called);
 * `idPrefix` is put before every `idOf` prefix (a construct's path in a larger stack).
 */
export function templateHelpers(source: () => TemplateSource, idPrefix = '') {
  return {
    ofType: (...types: string[]) => ofType(source(), ...types),
    only: (type: string) => only(source(), type),
    idOf: (prefix: string, type: string) => idOf(source(), `${idPrefix}${prefix}`, type),
  };
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
export function statementsOfRole(source: TemplateSource, roleLogicalId: string): Array<Record<string, unknown>> {
  return ofType(source, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${roleLogicalId}"`))
    .flatMap(([, p]) => (p.Properties?.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement);
}

/** A CloudFormation "one or a list" value as a list. */
export function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
