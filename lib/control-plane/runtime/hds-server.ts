import * as grpc from '@grpc/grpc-js';
import { admitStream, onStreamEnd } from './grpc-streams';
import { CanaryHealth, EndpointHealthReport, HdsPeer } from './canary-health';
import { ControlPlane } from './control-plane';
import { RawNode, nodeFromProto } from './node-info';
import { strictFromJson } from './proto-json';
import { loadEnvoyProtos, messageType } from './protos';

export const HDS_PROTO = 'envoy/service/health/v3/hds.proto';
export const HDS_METHOD = '/envoy.service.health.v3.HealthDiscoveryService/StreamHealthCheck';
const REQUEST = 'envoy.service.health.v3.HealthCheckRequestOrEndpointHealthResponse';
const SPECIFIER = 'envoy.service.health.v3.HealthCheckSpecifier';

/** Loads Envoy's HDS protos into the shared Root (once). */
export function loadHdsProtos(): void {
  loadEnvoyProtos([HDS_PROTO]);
}

interface HdsMessage {
  health_check_request?: { node?: RawNode; capability?: { health_check_protocols?: string[] } };
  endpoint_health_response?: EndpointHealthReport;
}

type HdsCall = grpc.ServerDuplexStream<HdsMessage, Buffer>;

/** One node's HDS stream: authenticated by its first HealthCheckRequest, like ADS. */
function serveHds(cp: ControlPlane, health: CanaryHealth, call: HdsCall): void {
  let peer: HdsPeer | undefined;
  let refused = false;
  const specifierType = messageType(SPECIFIER);
  const close = () => {
    if (!peer) return;
    health.disconnected(peer);
    cp.logger.log('info', 'HDS stream closed', { node: peer.nodeId });
    peer = undefined;
  };
  call.on('data', (message: HdsMessage) => {
    if (refused) return;
    if (!peer) {
      const { node, token } = nodeFromProto(message.health_check_request?.node, cp.region);
      if (!admitStream(cp, call as unknown as grpc.ServerDuplexStream<unknown, Buffer>, token, 'HDS stream refused', { node: node.id })) {
        refused = true;
        return;
      }
      const nodeId = node.id;
      peer = {
        nodeId,
        send(specifier) {
          try {
            const plain = strictFromJson(SPECIFIER, specifier);
            call.write(Buffer.from(specifierType.encode(specifierType.fromObject(plain)).finish()));
            return true;
          } catch (err) {
            cp.logger.log('error', 'could not send a health check specifier', { node: nodeId, error: (err as Error).message });
            return false;
          }
        },
      };
      cp.logger.log('info', 'HDS stream opened', { node: nodeId, protocols: message.health_check_request?.capability?.health_check_protocols ?? [] });
      health.connected(peer);
    }
    if (message.endpoint_health_response) health.reported(peer.nodeId, message.endpoint_health_response);
  });
  onStreamEnd(call as unknown as grpc.ServerDuplexStream<unknown, Buffer>, close);
}

/** Adds HealthDiscoveryService/StreamHealthCheck to the xDS gRPC server. */
export function addHdsService(server: grpc.Server, cp: ControlPlane): void {
  loadHdsProtos();
  const requestType = messageType(REQUEST);
  server.addService(
    {
      StreamHealthCheck: {
        path: HDS_METHOD,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: Buffer) => value,
        requestDeserialize: (buffer: Buffer) => requestType.toObject(requestType.decode(buffer), { longs: Number, enums: String, defaults: false }) as HdsMessage,
        responseSerialize: (value: Buffer) => value,
        responseDeserialize: (value: Buffer) => value,
      },
    } as unknown as grpc.ServiceDefinition,
    { StreamHealthCheck: (call: HdsCall) => serveHds(cp, cp.canaryHealth, call) },
  );
}
