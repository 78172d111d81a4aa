/** A transport-neutral OSB request: built from an API Gateway event or a local HTTP request. */
export interface OsbRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | undefined;
  readonly requestId: string;
}

export interface OsbResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export function lowerCaseHeaders(headers: Record<string, string | string[] | undefined> | null | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}
