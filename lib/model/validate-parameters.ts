import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { envoyLimitProblems, headerNameProblem, headerValueProblem } from './envoy-limits';
import { ParameterProblem, fieldPath } from './field-path';
import { EDGE_RULE_KEYWORD, EdgeRule, ParametersSchemaOptions, ServiceParameters, serviceParametersSchema, usesUpstreamTls } from './service-parameters';
import { TargetPolicy, targetProblems } from './targets';

export type { ParameterProblem };

export type ParametersCheck =
  | { readonly ok: true; readonly parameters: ServiceParameters }
  | { readonly ok: false; readonly problems: readonly ParameterProblem[]; readonly description: string };

export interface ParametersCheckOptions extends ParametersSchemaOptions {
  /**
   * The platform's rule for targets the edge may not reach (lib/model/targets.ts). The
   * broker always gives it; without it only the schema and Envoy's own limits are checked.
   */
  readonly targets?: TargetPolicy;
}

const compiled = new Map<string, ValidateFunction>();

function validatorFor(options: ParametersSchemaOptions): ValidateFunction {
  const key = `${options.mode}:${options.regions.join(',')}`;
  let validate = compiled.get(key);
  if (!validate) {
    // verbose: errors carry the failing value and schema node, for the x-edge-rule messages.
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
    addFormats(ajv);
    validate = ajv.compile(serviceParametersSchema(options));
    compiled.set(key, validate);
  }
  return validate;
}

/** A parameter name that reads unambiguously after a '.'. */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `name` under `path`: `path.name`, or quoted as header keys are when it is not a plain name
 * (unquoted, a top-level "backends[0].colour" would read as backends[0]'s field).
 */
function childField(path: string, name: string): string {
  if (!PLAIN_NAME.test(name)) return `${path}[${JSON.stringify(name)}]`;
  return path ? `${path}.${name}` : name;
}

function toField(pointer: string, error: ErrorObject): string {
  const path = fieldPath(pointer);
  if (error.keyword === 'required') return childField(path, (error.params as { missingProperty: string }).missingProperty);
  if (error.keyword === 'additionalProperties') return childField(path, (error.params as { additionalProperty: string }).additionalProperty);
  return path || 'parameters';
}

/** The Envoy rule a schema node stands for (service-parameters.ts marks it), if any. */
function edgeRuleOf(error: ErrorObject): EdgeRule | undefined {
  const schema = error.parentSchema as Record<string, unknown> | undefined;
  return schema?.[EDGE_RULE_KEYWORD] as EdgeRule | undefined;
}

function toMessage(error: ErrorObject): string {
  const rule = edgeRuleOf(error);
  if (rule === 'modifiable-header-name' && error.keyword === 'not') return headerNameProblem(String(error.data)) ?? 'may not be modified by Envoy';
  if (rule === 'literal-header-value' && error.keyword === 'pattern') return headerValueProblem(String(error.data)) ?? 'is not a literal header value';
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known parameter';
    case 'enum':
      return `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`;
    case 'oneOf':
      return 'must have exactly one of prefix, path or safe_regex';
    case 'anyOf':
      return 'must be a DNS name or an IP address';
    default:
      return error.message ?? error.keyword;
  }
}

/** A header map's key names itself in the field: `routes[0].request_headers_to_add[":path"]`. */
function fieldOf(error: ErrorObject): string {
  const field = toField(error.instancePath, error);
  return error.propertyName !== undefined ? `${field}[${JSON.stringify(error.propertyName)}]` : field;
}

function schemaProblems(errors: readonly ErrorObject[]): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  for (const error of errors) {
    // anyOf/oneOf report their failed branches too, and `not` its inner anyOf; the summary line says it better.
    if (error.schemaPath.includes('/anyOf/') || error.schemaPath.includes('/oneOf/')) continue;
    // A bad property name is reported twice (the name's rule, then "property name must be valid").
    if (error.keyword === 'propertyNames') continue;
    problems.push({ field: fieldOf(error), message: toMessage(error) });
  }
  return problems;
}

/** `backends[i].tls` only means something for backends reached over TLS. */
function upstreamTlsProblems(parameters: ServiceParameters): ParameterProblem[] {
  if (usesUpstreamTls(parameters)) return [];
  return (parameters.backends ?? []).flatMap((backend, i) =>
    backend.tls ? [{ field: `backends[${i}].tls`, message: 'applies only to backends reached over TLS (protocol https, or tls.upstream_tls: true)' }] : [],
  );
}

function describe(problems: readonly ParameterProblem[]): string {
  return `Invalid parameters: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
}

/**
 * Validates parameters against the published schema, then against what the schema cannot
 * say: Envoy's own limits (lib/model/envoy-limits.ts), the upstream TLS opt-out, and the
 * targets the edge may not reach (lib/model/targets.ts). Errors name the field and the
 * rule, e.g. `backends[0].port: must be <= 65535`. In `update` mode (a partial patch)
 * the cross-field TLS rule waits for the merged parameters.
 */
export function checkServiceParameters(input: unknown, options: ParametersCheckOptions): ParametersCheck {
  const validate = validatorFor(options);
  if (!validate(input)) {
    const problems = schemaProblems(validate.errors ?? []);
    return { ok: false, problems, description: describe(problems) };
  }
  const parameters = input as ServiceParameters;
  const problems = [
    ...envoyLimitProblems(parameters),
    ...(options.mode === 'create' ? upstreamTlsProblems(parameters) : []),
    ...(options.targets ? targetProblems(parameters, options.targets) : []),
  ];
  if (problems.length > 0) return { ok: false, problems, description: describe(problems) };
  return { ok: true, parameters };
}
