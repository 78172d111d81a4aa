import { HOSTNAME_MAX_LENGTH, HOSTNAME_PATTERN } from './hostnames';

/**
 * The parameters a team gives when it provisions or updates a load balancer: the
 * product's interface. The JSON Schema below is the single source of truth: the
 * catalog publishes it, the broker validates requests with it, and the route
 * document the control plane reads carries parameters that passed it.
 */

export type BackendProtocol = 'http' | 'https' | 'h2' | 'grpc';

export interface Backend {
  /**
   * DNS name or IP address of the backend: never a target the edge may not reach
   * (loopback, link-local, the fleet's networks, the platform's names: lib/model/targets.ts).
   */
  readonly address: string;
  readonly port: number;
  readonly protocol: BackendProtocol;
  /** Relative share of traffic, 1..1000 (default 1). */
  readonly weight?: number;
  /** Region the backend lives in; proxies there prefer it (locality). */
  readonly region?: string;
  /** How the edge checks this backend's TLS certificate (backends reached over TLS only). */
  readonly tls?: BackendTls;
}

/**
 * Upstream TLS is verified by default: the system trust store, and the backend's name
 * (`tls.upstream_sni`, else its address) checked against the certificate's subject
 * alternative names. `verify: false` is the one explicit, per-backend way out (a backend
 * with a self-signed certificate during a migration); the instance's GET reports every
 * backend that uses it.
 */
export interface BackendTls {
  /** false: connect without checking the certificate (anything on the path can impersonate the backend). Default true. */
  readonly verify?: boolean;
}

export interface HealthCheck {
  /** HTTP path probed (ignored for grpc backends, which use grpc.health.v1). */
  readonly path?: string;
  readonly interval_seconds?: number;
  readonly timeout_seconds?: number;
  readonly healthy_threshold?: number;
  readonly unhealthy_threshold?: number;
}

export interface HeaderMatch {
  readonly name: string;
  readonly exact?: string;
  readonly prefix?: string;
  readonly present?: boolean;
}

export interface RouteMatch {
  /** Exactly one of prefix, path or safe_regex. */
  readonly prefix?: string;
  readonly path?: string;
  readonly safe_regex?: string;
  readonly headers?: readonly HeaderMatch[];
  readonly case_sensitive?: boolean;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly retry_on?: readonly string[];
  readonly per_try_timeout_seconds?: number;
}

export interface RouteRule {
  readonly match: RouteMatch;
  readonly rewrite?: { readonly prefix?: string; readonly host?: string };
  readonly request_headers_to_add?: Readonly<Record<string, string>>;
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: Readonly<Record<string, string>>;
  readonly response_headers_to_remove?: readonly string[];
  readonly timeout_seconds?: number;
  readonly idle_timeout_seconds?: number;
  readonly retries?: RetryPolicy;
}

export interface TlsSettings {
  /** Minimum TLS version clients may use at the edge. */
  readonly min_protocol_version?: 'TLSv1_2' | 'TLSv1_3';
  /** SNI sent to https/h2/grpc backends over TLS (default: the backend address). */
  readonly upstream_sni?: string;
  /** Whether the backends speak TLS (default: true for https, false otherwise). */
  readonly upstream_tls?: boolean;
}

export interface RateLimit {
  readonly requests_per_unit: number;
  readonly unit: 'second' | 'minute' | 'hour';
  /** Bucket size (default: requests_per_unit). */
  readonly burst?: number;
  /** Also enforce the platform's global rate limit service, where configured. */
  readonly global?: boolean;
}

export interface ExtAuthzTarget {
  readonly address: string;
  readonly port: number;
  readonly protocol: 'grpc' | 'http';
  readonly timeout_ms?: number;
  /** Let requests through when the authorizer is unreachable (default: false, fail closed). */
  readonly failure_mode_allow?: boolean;
}

export interface AccessLogSettings {
  readonly enabled: boolean;
}

export interface ServiceParameters {
  readonly hostnames: readonly string[];
  readonly backends: readonly Backend[];
  readonly health_check?: HealthCheck;
  readonly routes?: readonly RouteRule[];
  readonly tls?: TlsSettings;
  readonly rate_limit?: RateLimit;
  readonly auth?: { readonly ext_authz: ExtAuthzTarget };
  readonly ip_allow_list?: readonly string[];
  readonly access_log?: AccessLogSettings;
  /** Regions the service is served from (default: every fleet region). */
  readonly regions?: readonly string[];
}

/**
 * Whether the edge speaks TLS to the backends: `tls.upstream_tls`, by default when the
 * first backend's protocol is https (the control plane renders one cluster per instance).
 */
export function usesUpstreamTls(parameters: Pick<ServiceParameters, 'tls' | 'backends'>): boolean {
  return parameters.tls?.upstream_tls ?? parameters.backends?.[0]?.protocol === 'https';
}

/**
 * The backends the edge reaches over TLS without checking their certificate (`tls.verify:
 * false`), as `backends[1] (legacy.example.org:443)`: what the instance's status reports.
 */
export function unverifiedTlsBackends(parameters: Pick<ServiceParameters, 'tls' | 'backends'>): string[] {
  if (!usesUpstreamTls(parameters)) return [];
  return (parameters.backends ?? []).flatMap((b, i) => (b.tls?.verify === false ? [`backends[${i}] (${b.address}:${b.port})`] : []));
}

export const BACKEND_PROTOCOLS: readonly BackendProtocol[] = ['http', 'https', 'h2', 'grpc'];
export const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

/**
 * Marks a schema node whose failure is one of Envoy's own rules (lib/model/envoy-limits.ts);
 * the validator words the error with that module's message. JSON Schema ignores unknown
 * keywords, so published schemas stay valid draft-07.
 */
export const EDGE_RULE_KEYWORD = 'x-edge-rule';
export type EdgeRule = 'modifiable-header-name' | 'literal-header-value';

const HEADER_NAME_PATTERN = '^:?[a-z0-9!#$%&\'*+.^_`|~-]+$';
const CIDR_PATTERN = '^((\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}|[0-9a-fA-F:]+/\\d{1,3})$';

export interface ParametersSchemaOptions {
  /** The fleet regions a service may name. */
  readonly regions: readonly string[];
  /** `create` requires hostnames and backends; `update` accepts any subset. */
  readonly mode: 'create' | 'update';
}

/** The JSON Schema (draft-07) of the service parameters, as the catalog publishes it. */
export function serviceParametersSchema(options: ParametersSchemaOptions): Record<string, unknown> {
  // Envoy refuses to add, change or remove pseudo-headers and host (lib/model/envoy-limits.ts).
  const modifiableHeaderName = {
    type: 'string',
    pattern: HEADER_NAME_PATTERN,
    maxLength: 128,
    not: { anyOf: [{ pattern: '^:' }, { enum: ['host'] }] },
    [EDGE_RULE_KEYWORD]: 'modifiable-header-name',
  };
  // Literal text: no '%' (Envoy's substitution commands), no NUL, CR or LF.
  const headerValue = { type: 'string', maxLength: 1024, pattern: '^[^%\\u0000\\r\\n]*$', [EDGE_RULE_KEYWORD]: 'literal-header-value' };
  const headerMap = {
    type: 'object',
    maxProperties: 20,
    propertyNames: modifiableHeaderName,
    additionalProperties: headerValue,
  };
  const headerList = { type: 'array', maxItems: 20, items: modifiableHeaderName };
  const seconds = (max: number) => ({ type: 'number', exclusiveMinimum: 0, maximum: max });
  // No whitespace and no control characters: health_check.path and rewrite.prefix are header
  // values to Envoy (HTTP_HEADER_VALUE: no NUL, CR or LF), and a match path has no use for them.
  const path = { type: 'string', pattern: '^/[^\\s\\u0000-\\u001f\\u007f]*$', maxLength: 1024 };

  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: options.mode === 'create' ? 'Edge load balancer: provision parameters' : 'Edge load balancer: update parameters',
    type: 'object',
    additionalProperties: false,
    required: options.mode === 'create' ? ['hostnames', 'backends'] : [],
    properties: {
      hostnames: {
        description:
          'Fully qualified names served by this instance: one label under the platform domain (the platform writes their DNS), or names of your own (served once you prove control: the operation tells you which DNS records to create). A wildcard (*.example.org) covers every name below its base.',
        type: 'array',
        minItems: 1,
        maxItems: 50,
        uniqueItems: true,
        items: { type: 'string', maxLength: HOSTNAME_MAX_LENGTH, pattern: HOSTNAME_PATTERN },
      },
      backends: {
        description: 'Where traffic goes.',
        type: 'array',
        minItems: 1,
        maxItems: 100,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['address', 'port', 'protocol'],
          properties: {
            address: {
              type: 'string',
              maxLength: 253,
              anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }, { pattern: '^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$' }],
            },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            protocol: { enum: [...BACKEND_PROTOCOLS] },
            weight: { type: 'integer', minimum: 1, maximum: 1000 },
            region: { enum: [...options.regions] },
            tls: {
              description:
                "Upstream TLS is verified (system trust store, the backend's name against the certificate); verify: false is the explicit opt-out for this backend, reported in the instance's status.",
              type: 'object',
              additionalProperties: false,
              minProperties: 1,
              properties: { verify: { type: 'boolean' } },
            },
          },
        },
      },
      health_check: {
        type: 'object',
        additionalProperties: false,
        properties: {
          path,
          interval_seconds: seconds(300),
          timeout_seconds: seconds(60),
          healthy_threshold: { type: 'integer', minimum: 1, maximum: 10 },
          unhealthy_threshold: { type: 'integer', minimum: 1, maximum: 10 },
        },
      },
      routes: {
        type: 'array',
        minItems: 1,
        maxItems: 100,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['match'],
          properties: {
            match: {
              type: 'object',
              additionalProperties: false,
              oneOf: [{ required: ['prefix'] }, { required: ['path'] }, { required: ['safe_regex'] }],
              properties: {
                prefix: path,
                path,
                safe_regex: { type: 'string', minLength: 1, maxLength: 1024 },
                case_sensitive: { type: 'boolean' },
                headers: {
                  type: 'array',
                  maxItems: 10,
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['name'],
                    maxProperties: 2,
                    minProperties: 2,
                    properties: {
                      name: { type: 'string', pattern: HEADER_NAME_PATTERN, maxLength: 128 },
                      exact: { type: 'string', maxLength: 1024 },
                      prefix: { type: 'string', minLength: 1, maxLength: 1024 },
                      present: { type: 'boolean' },
                    },
                  },
                },
              },
            },
            rewrite: {
              type: 'object',
              additionalProperties: false,
              minProperties: 1,
              properties: {
                prefix: path,
                host: { type: 'string', maxLength: 253, pattern: '^[a-zA-Z0-9.-]+(:\\d{1,5})?$' },
              },
            },
            request_headers_to_add: headerMap,
            request_headers_to_remove: headerList,
            response_headers_to_add: headerMap,
            response_headers_to_remove: headerList,
            timeout_seconds: seconds(3600),
            idle_timeout_seconds: seconds(3600),
            retries: {
              type: 'object',
              additionalProperties: false,
              required: ['attempts'],
              properties: {
                attempts: { type: 'integer', minimum: 0, maximum: 10 },
                retry_on: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...RETRY_ON] } },
                per_try_timeout_seconds: seconds(3600),
              },
            },
          },
        },
      },
      tls: {
        type: 'object',
        additionalProperties: false,
        properties: {
          min_protocol_version: { enum: ['TLSv1_2', 'TLSv1_3'] },
          upstream_sni: { type: 'string', maxLength: 253, pattern: '^[a-zA-Z0-9.-]+$' },
          upstream_tls: { type: 'boolean' },
        },
      },
      rate_limit: {
        type: 'object',
        additionalProperties: false,
        required: ['requests_per_unit', 'unit'],
        properties: {
          requests_per_unit: { type: 'integer', minimum: 1, maximum: 1000000 },
          unit: { enum: ['second', 'minute', 'hour'] },
          burst: { type: 'integer', minimum: 1, maximum: 10000000 },
          global: { type: 'boolean' },
        },
      },
      auth: {
        type: 'object',
        additionalProperties: false,
        required: ['ext_authz'],
        properties: {
          ext_authz: {
            type: 'object',
            additionalProperties: false,
            required: ['address', 'port', 'protocol'],
            properties: {
              address: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-zA-Z0-9.:-]+$' },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              protocol: { enum: ['grpc', 'http'] },
              timeout_ms: { type: 'integer', minimum: 1, maximum: 60000 },
              failure_mode_allow: { type: 'boolean' },
            },
          },
        },
      },
      ip_allow_list: {
        type: 'array',
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        items: { type: 'string', pattern: CIDR_PATTERN },
      },
      access_log: {
        type: 'object',
        additionalProperties: false,
        required: ['enabled'],
        properties: { enabled: { type: 'boolean' } },
      },
      regions: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { enum: [...options.regions] },
      },
    },
  };
}
