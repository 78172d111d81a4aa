import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fieldPath } from './field-path';
import { ParametersSchemaOptions, ServiceParameters, serviceParametersSchema } from './service-parameters';

/** One rule a parameter broke, with the field's path (`backends[0].port`). */
export interface ParameterProblem {
  readonly field: string;
  readonly message: string;
}

export type ParametersCheck =
  | { readonly ok: true; readonly parameters: ServiceParameters }
  | { readonly ok: false; readonly problems: readonly ParameterProblem[]; readonly description: string };

const compiled = new Map<string, ValidateFunction>();

function validatorFor(options: ParametersSchemaOptions): ValidateFunction {
  const key = `${options.mode}:${options.regions.join(',')}`;
  let validate = compiled.get(key);
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    validate = ajv.compile(serviceParametersSchema(options));
    compiled.set(key, validate);
  }
  return validate;
}

function toField(pointer: string, error: ErrorObject): string {
  let path = fieldPath(pointer);
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    path = path ? `${path}.${missing}` : missing;
  }
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    path = path ? `${path}.${extra}` : extra;
  }
  return path || 'parameters';
}

function toMessage(error: ErrorObject): string {
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

/**
 * Validates parameters against the published schema. Errors name the field and the
 * rule, e.g. `backends[0].port: must be <= 65535`.
 */
export function checkServiceParameters(input: unknown, options: ParametersSchemaOptions): ParametersCheck {
  const validate = validatorFor(options);
  if (validate(input)) return { ok: true, parameters: input as ServiceParameters };
  const seen = new Set<string>();
  const problems: ParameterProblem[] = [];
  for (const error of validate.errors ?? []) {
    // anyOf/oneOf report their failed branches too; the summary line says it better.
    if (error.schemaPath.includes('/anyOf/') || error.schemaPath.includes('/oneOf/')) continue;
    const problem = { field: toField(error.instancePath, error), message: toMessage(error) };
    const key = `${problem.field}: ${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(problem);
    }
  }
  return {
    ok: false,
    problems,
    description: `Invalid parameters: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
  };
}
