/** The hand decoder of DeltaDiscoveryRequest (protocol/delta-session.ts) against protobufjs and Envoy's proto. */
import { decodeDeltaRequest } from '../../lib/control-plane/runtime/protocol/delta-session';
import { TYPE_URLS, messageType } from '../../lib/control-plane/runtime/protos';

const encode = (request: Record<string, unknown>): Buffer => {
  const type = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  return Buffer.from(type.encode(type.fromObject(request)).finish());
};

describe('decodeDeltaRequest', () => {
  it('reads every field a Delta request carries', () => {
    const request = decodeDeltaRequest(
      encode({
        node: { id: 'i-1', cluster: 'edge-fleet', locality: { region: 'us-east-1' } },
        type_url: TYPE_URLS.endpoints,
        resource_names_subscribe: ['svc-a', 'svc-b'],
        resource_names_unsubscribe: ['svc-old'],
        initial_resource_versions: { 'svc-a': 'v1', 'svc-c': 'v2' },
        response_nonce: 'd42',
        error_detail: { code: 3, message: 'cluster rejected' },
      }),
    );
    expect(request.node).toMatchObject({ id: 'i-1', cluster: 'edge-fleet', locality: { region: 'us-east-1' } });
    expect(request.type_url).toBe(TYPE_URLS.endpoints);
    expect(request.subscribeCount).toBe(2);
    expect(request.unsubscribeCount).toBe(1);
    expect(request.subscribe()).toEqual(['svc-a', 'svc-b']);
    expect(request.unsubscribe()).toEqual(['svc-old']);
    expect(request.initial_resource_versions).toEqual({ 'svc-a': 'v1', 'svc-c': 'v2' });
    expect(request.response_nonce).toBe('d42');
    expect(request.error_detail).toEqual({ code: 3, message: 'cluster rejected' });
  });

  it('an ACK names nothing to change', () => {
    const request = decodeDeltaRequest(encode({ type_url: TYPE_URLS.clusters, response_nonce: 'd1' }));
    expect(request.changeDigest).toBe('');
    expect(request.subscribeCount).toBe(0);
    expect(request.subscribe()).toEqual([]);
    expect(request.initial_resource_versions).toBeUndefined();
  });

  it('gives equal changes one digest, and tells subscribe from unsubscribe and one list from another', () => {
    const names = Array.from({ length: 500 }, (_, i) => `svc-${i}`);
    const a = decodeDeltaRequest(encode({ type_url: TYPE_URLS.endpoints, resource_names_subscribe: names }));
    const b = decodeDeltaRequest(encode({ type_url: TYPE_URLS.endpoints, resource_names_subscribe: names, response_nonce: 'x' }));
    const swapped = decodeDeltaRequest(encode({ type_url: TYPE_URLS.endpoints, resource_names_unsubscribe: names }));
    const other = decodeDeltaRequest(encode({ type_url: TYPE_URLS.endpoints, resource_names_subscribe: [...names.slice(1), 'svc-x'] }));
    expect(a.changeDigest).not.toBe('');
    expect(b.changeDigest).toBe(a.changeDigest);
    expect(swapped.changeDigest).not.toBe(a.changeDigest);
    expect(other.changeDigest).not.toBe(a.changeDigest);
    expect(a.subscribe()).toEqual(names);
  });
});
