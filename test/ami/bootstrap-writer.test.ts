import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { StrictJsonError, strictFromJson } from '../../lib/control-plane/runtime/proto-json';
import { loadEnvoyProtos } from '../../lib/control-plane/runtime/protos';
import { FakeInstance, INSTANCE_ID, ZONE, installFakeAws, runWriter, startFakeInstance } from './run-writer';
import { TOOLS, withTools } from '../support/tools';

/**
 * The boot-time bootstrap writer, run for real (bash + curl + jq) against an IMDSv2-only
 * metadata service on loopback; Secrets Manager is the `aws` stand-in (no local emulator).
 * Its output is checked against the boot contract and strictly against Envoy's v3 protos.
 */
const WRITER = join(amiPaths().saltRoot, 'envoy', 'files', 'edge-write-bootstrap');
const describeWithTools = withTools('the bootstrap writer tests', [TOOLS.bash, TOOLS.curl, TOOLS.jq]).describe;

const TOKEN = 'edge-discovery-token-0123456789abcdef';
const SECRET_VERSION = 'a1b2c3d4-0000-4000-8000-000000000001';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:edge-discovery-AbCdEf';
const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();

/** Problems of a bootstrap as Envoy's strict loader would see them (the control plane's validator, deprecated fields too). */
function bootstrapProblems(json: unknown): string[] {
  loadEnvoyProtos([
    'envoy/config/bootstrap/v3/bootstrap.proto',
    'envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto',
    'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  ]);
  try {
    strictFromJson('envoy.config.bootstrap.v3.Bootstrap', json, { rejectDeprecated: true });
    return [];
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    return error.problems.map((p) => `${p.field}: ${p.message}`);
  }
}

function bootstrapEnv(overrides: Record<string, string | undefined> = {}): string {
  const values: Record<string, string | undefined> = {
    EDGE_PLATFORM: 'edge',
    EDGE_REGION: 'eu-west-1',
    EDGE_NODE_CLUSTER: 'edge-fleet-eu-west-1',
    EDGE_CONTROL_PLANE_HOST: 'control-plane.eu-west-1.internal',
    EDGE_CONTROL_PLANE_PORT: '18000',
    EDGE_CONTROL_PLANE_TLS: 'false',
    EDGE_DISCOVERY_TOKEN_SECRET_ARN: SECRET_ARN,
    EDGE_HTTPS_TRAFFIC_PORT: '8443',
    EDGE_HTTP_TRAFFIC_PORT: '8080',
    EDGE_READINESS_PORT: '8081',
    EDGE_METRICS_PORT: '9901',
    EDGE_VPC_CIDR: '10.4.0.0/16',
    ...overrides,
  };
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

describeWithTools('edge-write-bootstrap (boot contract)', () => {
  let instance: FakeInstance;
  let envFile: string;
  let configFile: string;
  let bin: string;

  beforeAll(async () => {
    instance = await startFakeInstance();
  });
  afterAll(async () => {
    await instance.close();
  });
  beforeEach(() => {
    instance.requests.length = 0;
    envFile = join(instance.dir, 'bootstrap.env');
    configFile = join(instance.dir, 'envoy.yaml');
    bin = installFakeAws(instance.dir, TOKEN, SECRET_VERSION);
  });

  const write = (envText: string, extra: Record<string, string> = {}) => {
    writeFileSync(envFile, envText);
    return runWriter(WRITER, {
      PATH: `${bin}:${process.env.PATH}`,
      EDGE_BOOTSTRAP_ENV: envFile,
      EDGE_ENVOY_CONFIG: configFile,
      EDGE_IMDS_ENDPOINT: instance.imdsEndpoint,
      EDGE_ENVOY_GROUP: group,
      ...extra,
    });
  };
  const readConfig = () => JSON.parse(readFileSync(configFile, 'utf8'));

  const listener = (config: { static_resources: { listeners: Array<{ name: string }> } }, name: string) =>
    config.static_resources.listeners.find((l) => l.name === name) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Envoy JSON
  const connectionManager = (l: Record<string, any>) => l.filter_chains[0].filters[0].typed_config; // eslint-disable-line @typescript-eslint/no-explicit-any -- Envoy JSON

  test('writes the node identity, the token and its secret version, and ADS', async () => {
    const result = await write(bootstrapEnv());
    expect(result.stderr).not.toContain('"level":"error"');
    expect(result.code).toBe(0);
    const config = readConfig();
    expect(config.node).toEqual({
      id: INSTANCE_ID,
      cluster: 'edge-fleet-eu-west-1',
      locality: { region: 'eu-west-1', zone: ZONE },
      // The secret's version id (not secret) says which value a node presents during a rotation.
      metadata: { auth: TOKEN, platform: 'edge', token_version: SECRET_VERSION },
    });
    // Delta ADS: the control plane serves the virtual hosts over VHDS, which Envoy accepts on ADS only when it is DELTA_GRPC.
    expect(config.dynamic_resources.ads_config).toEqual({
      api_type: 'DELTA_GRPC',
      transport_api_version: 'V3',
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
    });
    // Canary health (HDS) on the same xds_cluster as ADS.
    expect(config.hds_config).toEqual({ api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] });
    expect(config.dynamic_resources.lds_config).toMatchObject({ ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' });
    expect(config.dynamic_resources.cds_config).toMatchObject({ ads: {}, resource_api_version: 'V3' });
    const xds = config.static_resources.clusters.find((c: { name: string }) => c.name === 'xds_cluster');
    expect(xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: 'control-plane.eu-west-1.internal', port_value: 18000 });
    expect(xds.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options).toBeDefined();
    expect(xds.transport_socket).toBeUndefined();
  });

  test('the admin interface is a Unix socket (mode 0660), on no TCP port a route could reach', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    const config = readConfig();
    // Issue 13 item 1: 127.0.0.1:9901 was a backend a tenant could name (/config_dump,
    // /quitquitquit, /runtime_modify). A pipe is no IP address: no cluster a route renders reaches it.
    expect(config.admin).toEqual({ address: { pipe: { path: '/run/envoy-admin/admin.sock', mode: 0o660 } } });
    expect(JSON.stringify(config.admin)).not.toContain('socket_address');
    // The one cluster that reaches the admin is static and serves only the stats listener below.
    const admin = config.static_resources.clusters.find((c: { name: string }) => c.name === 'envoy_admin');
    expect(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address).toEqual({ pipe: { path: '/run/envoy-admin/admin.sock' } });
    const routedToAdmin = JSON.stringify(config).match(/"cluster":"envoy_admin"/g) ?? [];
    expect(routedToAdmin).toHaveLength(1);
  });

  test('no runtime layer a request could change: a static layer only (an empty list would get an admin layer)', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    // Envoy adds an admin layer when layered_runtime is present with no layers (server
    // configuration_impl.cc, InitialImpl), so the bootstrap names one static layer explicitly.
    expect(readConfig().layered_runtime).toEqual({ layers: [{ name: 'static', static_layer: {} }] });
  });

  test('readiness: GET /ready answered by Envoy itself (health_check filter), behind proxy protocol, nothing else routed', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    const readiness = listener(readConfig(), 'readiness');
    expect(readiness.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 8081 });
    // The NLB's health checks arrive with a proxy protocol v2 header (the target groups enable it
    // and AWS sends it on health-check connections too); plain connections must work as well.
    expect(readiness.listener_filters).toEqual([
      {
        name: 'envoy.filters.listener.proxy_protocol',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol',
          allow_requests_without_proxy_protocol: true,
        },
      },
    ]);
    // Listeners accept only once Envoy initialised from xDS, and the filter answers 503 once the
    // health check was failed (/healthcheck/fail, the drain): what admin /ready said, without the admin.
    const hcm = connectionManager(readiness);
    expect(hcm.http_filters[0]).toEqual({
      name: 'envoy.filters.http.health_check',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
        pass_through_mode: false,
        headers: [
          { name: ':path', string_match: { exact: '/ready' } },
          { name: ':method', string_match: { exact: 'GET' } },
        ],
      },
    });
    expect(hcm.route_config.virtual_hosts[0].routes).toEqual([{ match: { prefix: '/' }, direct_response: { status: 404 } }]);
  });

  test('stats: GET /stats/prometheus on 127.0.0.1:EDGE_METRICS_PORT for the CloudWatch agent, 404 for anything else', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    const stats = listener(readConfig(), 'stats');
    expect(stats.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 9901 });
    const routes = connectionManager(stats).route_config.virtual_hosts[0].routes;
    expect(routes).toEqual([
      { match: { path: '/stats/prometheus', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: 'envoy_admin', timeout: '5s' } },
      { match: { prefix: '/' }, direct_response: { status: 404 } },
    ]);
    expect(readConfig().static_resources.listeners.map((l: { name: string }) => l.name).sort()).toEqual(['readiness', 'stats']);
  });

  test('the bootstrap is a valid Envoy v3 Bootstrap (strictly, against Envoy\'s protos)', async () => {
    expect((await write(bootstrapEnv({ EDGE_CONTROL_PLANE_TLS: 'true' }))).code).toBe(0);
    expect(bootstrapProblems(readConfig())).toEqual([]);
    // The checker itself rejects what Envoy would.
    expect(bootstrapProblems({ node: { idd: 'x' }, admin: { address: { socket_address: { port_value: 'x' } } } })).toEqual([
      'node.idd: unknown field of envoy.config.core.v3.Node',
      'admin.address.socket_address.port_value: must be an integer (uint32)',
      'admin.address.socket_address.address: must be at least 1 character(s)',
    ]);
    expect(bootstrapProblems({ watchdog: {} })).toEqual(['watchdog: deprecated field of envoy.config.bootstrap.v3.Bootstrap']);
  });

  test('TLS to the control plane: SNI and the certificate name checked against the host', async () => {
    expect((await write(bootstrapEnv({ EDGE_CONTROL_PLANE_TLS: 'true' }))).code).toBe(0);
    const xds = readConfig().static_resources.clusters.find((c: { name: string }) => c.name === 'xds_cluster');
    expect(xds.transport_socket.typed_config).toMatchObject({
      sni: 'control-plane.eu-west-1.internal',
      common_tls_context: {
        alpn_protocols: ['h2'],
        validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'control-plane.eu-west-1.internal' } }] },
      },
    });
  });

  test('uses IMDSv2 only: a session token first, then every read carries it', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    const [first, ...reads] = instance.requests;
    expect(first).toMatchObject({ method: 'PUT', path: '/latest/api/token', ttl: '300' });
    expect(reads.map((r) => r.path)).toEqual(['/latest/meta-data/instance-id', '/latest/meta-data/placement/availability-zone']);
    for (const read of reads) expect(read.token).toBe('imds-session-token-for-test');
  });

  test('reads the token from Secrets Manager in the region, by ARN, and never logs it', async () => {
    const result = await write(bootstrapEnv());
    expect(result.code).toBe(0);
    expect(readFileSync(join(instance.dir, 'aws-calls'), 'utf8').trim()).toBe(
      `secretsmanager get-secret-value --region eu-west-1 --secret-id ${SECRET_ARN} --query {version:VersionId,value:SecretString} --output json`,
    );
    expect(result.stderr + result.stdout).not.toContain(TOKEN);
    const lines = result.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[lines.length - 1]).toMatchObject({ level: 'info', op: 'edge-write-bootstrap', msg: expect.stringContaining(INSTANCE_ID) });
  });

  test.each([
    ['compact', JSON.stringify({ token: 'json-held-token-abcdef' })],
    ['pretty-printed', JSON.stringify({ token: 'json-held-token-abcdef', rotated: '2026-11-22' }, null, 2)],
  ])('a JSON secret {"token": ...} (%s) works as well as a plain string', async (_name, secret) => {
    installFakeAws(instance.dir, secret);
    expect((await write(bootstrapEnv())).code).toBe(0);
    expect(readConfig().node.metadata.auth).toBe('json-held-token-abcdef');
  });

  test.each([
    ['without a token field', JSON.stringify({ password: 'secret-password-value' })],
    ['that is not JSON after all', '{secret-password-value'],
  ])('a JSON secret %s is refused without quoting it', async (_name, secret) => {
    installFakeAws(instance.dir, secret);
    writeFileSync(configFile, 'previous');
    const result = await write(bootstrapEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the discovery token secret is not usable');
    expect(result.stderr).not.toContain('secret-password-value');
    expect(readFileSync(configFile, 'utf8')).toBe('previous');
  });

  test('the file is mode 0640 and replaced atomically', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    expect(statSync(configFile).mode & 0o777).toBe(0o640);
    expect(spawnSync('ls', ['-A', instance.dir], { encoding: 'utf8' }).stdout).not.toMatch(/\.envoy\.yaml\./);
  });

  test.each([
    ['a missing key', { EDGE_CONTROL_PLANE_HOST: undefined }, 'EDGE_CONTROL_PLANE_HOST is required'],
    ['a bad port', { EDGE_CONTROL_PLANE_PORT: '18000x' }, 'EDGE_CONTROL_PLANE_PORT must be a port number'],
    ['a bad TLS flag', { EDGE_CONTROL_PLANE_TLS: 'yes' }, 'EDGE_CONTROL_PLANE_TLS must be true or false'],
    ['a value instead of a secret ARN', { EDGE_DISCOVERY_TOKEN_SECRET_ARN: 'plain-token' }, 'EDGE_DISCOVERY_TOKEN_SECRET_ARN must be a Secrets Manager secret ARN'],
    ['the same readiness and metrics port', { EDGE_READINESS_PORT: '9901' }, 'EDGE_READINESS_PORT must differ from EDGE_METRICS_PORT'],
    ['a region the zone is not in', { EDGE_REGION: 'us-east-1' }, 'is not in EDGE_REGION us-east-1'],
  ])('bad input (%s) fails naming the key, and leaves the old config alone', async (_name, overrides, message) => {
    writeFileSync(configFile, 'previous');
    const result = await write(bootstrapEnv(overrides));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
    expect(readFileSync(configFile, 'utf8')).toBe('previous');
  });

  test('a line that is not KEY=value is refused, not executed', async () => {
    const marker = join(instance.dir, 'pwned');
    const result = await write(`${bootstrapEnv()}\n$(touch ${marker})`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not an EDGE_KEY=value pair');
    expect(existsSync(marker)).toBe(false);
  });

  test('the bake check can render with a token file instead of Secrets Manager', async () => {
    const tokenFile = join(instance.dir, 'token');
    writeFileSync(tokenFile, 'bake-check-token');
    const result = await write(bootstrapEnv(), { EDGE_DISCOVERY_TOKEN_FILE: tokenFile });
    expect(result.code).toBe(0);
    expect(readConfig().node.metadata).toMatchObject({ auth: 'bake-check-token', token_version: 'bake-check' });
    expect(existsSync(join(instance.dir, 'aws-calls'))).toBe(false);
  });

  test('an unchanged bootstrap is left alone (the token refresh runs it every few minutes)', async () => {
    expect((await write(bootstrapEnv())).code).toBe(0);
    const before = statSync(configFile);
    const again = await write(bootstrapEnv());
    expect(again.code).toBe(0);
    expect(statSync(configFile).ino).toBe(before.ino);
    expect(JSON.parse(again.stderr.trim().split('\n').pop()!)).toMatchObject({ level: 'info', msg: expect.stringContaining('unchanged') });
    // A rotated secret is a change: the file is replaced, with the new token and version.
    installFakeAws(instance.dir, 'rotated-token-value-0123456789', 'a1b2c3d4-0000-4000-8000-000000000002');
    const rotated = await write(bootstrapEnv());
    expect(rotated.code).toBe(0);
    expect(statSync(configFile).ino).not.toBe(before.ino);
    expect(readConfig().node.metadata).toMatchObject({ auth: 'rotated-token-value-0123456789', token_version: 'a1b2c3d4-0000-4000-8000-000000000002' });
    expect(rotated.stderr).not.toContain('rotated-token-value');
  });
});
