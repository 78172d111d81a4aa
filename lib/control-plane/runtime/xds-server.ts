import * as grpc from '@grpc/grpc-js';
import { addHdsService } from './hds-server';
import { ControlPlane } from './control-plane';
import { DeltaDiscoveryRequest, DeltaSession, decodeDeltaRequest } from './protocol/delta-session';
import { DiscoveryRequest, SotwSession, decodeSotwRequest } from './protocol/sotw-session';
import { Call, adsMethod, serveStream } from './protocol/stream';

export interface XdsServer {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Serves ADS, state of the world (protocol/sotw-session.ts) and Delta (protocol/delta-session.ts)
 * over one stream skeleton (protocol/stream.ts), and HDS, on plaintext HTTP/2; TLS to the proxies
 * ends at the load balancer.
 */
export async function startXdsServer(cp: ControlPlane, port: number, host = '0.0.0.0'): Promise<XdsServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_concurrent_streams': 1000,
  });
  server.addService(adsMethod('StreamAggregatedResources', decodeSotwRequest), {
    StreamAggregatedResources: (call: Call<DiscoveryRequest>) => serveStream(cp, call, 'sotw', (...args) => new SotwSession(...args)),
  });
  server.addService(adsMethod('DeltaAggregatedResources', decodeDeltaRequest), {
    DeltaAggregatedResources: (call: Call<DeltaDiscoveryRequest>) => serveStream(cp, call, 'delta', (...args) => new DeltaSession(...args)),
  });
  // Canary health (HDS) on the same server and port, as Envoy's hds_config uses the same xds_cluster.
  addHdsService(server, cp);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, actual) => (err ? reject(err) : resolve(actual))),
  );
  return {
    port: bound,
    // Proxies reconnect (to another task) and resume from the versions they hold, so a
    // stop closes every stream and connection at once rather than waiting on idle sessions.
    stop: async () => {
      server.forceShutdown();
    },
  };
}
