import * as grpc from '@grpc/grpc-js';
import type { ControlPlane } from './control-plane';

/**
 * What the control plane's gRPC streams (ADS and HDS) share: the discovery-token check of a
 * stream's first message, and the end of a stream.
 */

/**
 * Checks the token a node presents (`node.metadata.auth`). A stream without one ends with
 * UNAUTHENTICATED, a wrong one with PERMISSION_DENIED; the refusal is counted and logged as
 * `refusedMessage`. True when the node may go on.
 */
export function admitStream(cp: ControlPlane, call: grpc.ServerDuplexStream<unknown, Buffer>, token: unknown, refusedMessage: string, fields: Record<string, unknown>): boolean {
  const auth = cp.tokens.check(token);
  if (auth === 'ok') {
    // Ended if its token stops being accepted (a rotation moved it out: discovery-token.ts).
    cp.tokens.track(call, token as string, String(fields.node ?? ''));
    return true;
  }
  cp.metrics.authRefusals++;
  cp.logger.log('warn', refusedMessage, { ...fields, reason: auth === 'missing' ? 'no node.metadata.auth' : 'wrong node.metadata.auth' });
  const error: Partial<grpc.StatusObject> = {
    code: auth === 'missing' ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED,
    details: auth === 'missing' ? 'node.metadata.auth is required' : 'node.metadata.auth is not valid',
  };
  call.emit('error', error);
  return false;
}

/** Runs `close` once the stream ends in any way (the client half-closes, errors, or cancels); a half-close is answered with ours. */
export function onStreamEnd(call: grpc.ServerDuplexStream<unknown, Buffer>, close: () => void): void {
  call.on('end', () => {
    close();
    call.end();
  });
  call.on('error', close);
  call.on('close', close);
  call.on('cancelled', close);
}
