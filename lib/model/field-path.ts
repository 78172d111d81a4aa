/**
 * A JSON Pointer as a person reads a field: `/regions/1/vpcCidr` → `regions[1].vpcCidr`.
 * Used by every message that names a field (config, service parameters).
 */
export function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

/** One rule a parameter broke, with the field's path (`backends[0].port`). */
export interface ParameterProblem {
  readonly field: string;
  readonly message: string;
}
