/**
 * The discovery token a node presents (`node.metadata.auth`), rotatable with no proxy cut off
 * (issue 13, item 4). The control plane accepts the secret's current and previous versions
 * (AWSCURRENT and AWSPREVIOUS, secret-versions.ts) and re-reads them every
 * EDGE_DISCOVERY_TOKEN_REFRESH_MS, so during a rotation a proxy still on the old token and
 * one already on the new are both served, and new connections with the new token are
 * accepted as soon as the control plane has read it.
 *
 * A stream is checked when it starts. When a token stops being accepted (a second rotation
 * moved it out of AWSPREVIOUS, or an operator removed it), the streams that presented it are
 * ended with PERMISSION_DENIED: a token rotated away because it leaked must not keep a
 * stream open. The proxies re-read the secret every 5 minutes and hot-restart onto a new
 * value (docs/ami.md), so by then none of theirs uses it.
 *
 * Values never leave this module: logs and /status show version ids only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AuthResult } from './auth';
import { Logger } from './logger';
import { SecretVersions, acceptedValues } from './secret-versions';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** One digest Buffer per token value for all the streams that present it (thousands of nodes, one token). */
const trackedDigests = new Map<string, Buffer>();
function sharedDigest(value: string): Buffer {
  const d = digest(value);
  const key = d.toString('base64');
  const known = trackedDigests.get(key);
  if (known) return known;
  if (trackedDigests.size >= 16) trackedDigests.clear();
  trackedDigests.set(key, d);
  return d;
}

interface Tracked {
  readonly digest: Buffer;
  readonly node: string;
  end(details: string): void;
}

export interface DiscoveryTokenOptions {
  /** Re-reads the secret (unset: the token never changes, e.g. EDGE_XDS_AUTH_TOKEN). */
  readonly read?: () => Promise<SecretVersions>;
  /** Milliseconds between two reads (default 60 s). */
  readonly refreshMs?: number;
  readonly logger: Logger;
}

export class DiscoveryTokens {
  private digests: Buffer[];
  private versions: { current: string; previous?: string };
  private readonly streams = new Set<Tracked>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastRefresh?: { at: string; ok: boolean; error?: string };
  /** Streams ended because their token stopped being accepted. */
  revokedStreams = 0;

  constructor(
    initial: SecretVersions,
    private readonly options: DiscoveryTokenOptions,
  ) {
    this.digests = acceptedValues(initial).map(digest);
    this.versions = { current: initial.current.versionId, previous: initial.previous?.versionId };
  }

  /** A token that never changes (local platform, EDGE_XDS_AUTH_TOKEN). */
  static fixed(token: string, logger: Logger): DiscoveryTokens {
    return new DiscoveryTokens({ current: { value: token, versionId: 'fixed' } }, { logger });
  }

  /** Compares in constant time against every accepted value (digests: the lengths never show). */
  check(presented: unknown): AuthResult {
    if (typeof presented !== 'string' || presented.length === 0) return 'missing';
    const given = digest(presented);
    let ok = false;
    for (const accepted of this.digests) ok = timingSafeEqual(accepted, given) || ok;
    return ok ? 'ok' : 'wrong';
  }

  /** Remembers an admitted stream, to end it if its token stops being accepted. */
  track(call: grpc.ServerDuplexStream<unknown, Buffer>, token: string, node: string): void {
    const tracked: Tracked = {
      digest: sharedDigest(token),
      node,
      end: (details) => call.emit('error', { code: grpc.status.PERMISSION_DENIED, details } as Partial<grpc.StatusObject>),
    };
    this.streams.add(tracked);
    const forget = () => this.streams.delete(tracked);
    call.on('close', forget);
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('finish', forget);
  }

  /** Starts re-reading the secret every refreshMs (nothing to do for a fixed token). */
  start(): void {
    if (!this.options.read || this.stopped) return;
    this.timer = setTimeout(() => void this.refresh().finally(() => this.start()), this.options.refreshMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One read now: the accepted values become the secret's current and previous ones. */
  async refresh(): Promise<void> {
    if (!this.options.read) return;
    let versions: SecretVersions;
    try {
      versions = await this.options.read();
    } catch (err) {
      this.lastRefresh = { at: new Date().toISOString(), ok: false, error: (err as Error).message };
      this.options.logger.log('warn', 'could not re-read the discovery token; the accepted tokens stay as they were', { error: (err as Error).message });
      return;
    }
    this.lastRefresh = { at: new Date().toISOString(), ok: true };
    const next = { current: versions.current.versionId, previous: versions.previous?.versionId };
    if (next.current === this.versions.current && next.previous === this.versions.previous) return;
    this.digests = acceptedValues(versions).map(digest);
    this.options.logger.log('info', 'discovery token versions changed', { from: this.versions, to: next });
    this.versions = next;
    for (const stream of [...this.streams]) {
      if (this.digests.some((d) => timingSafeEqual(d, stream.digest))) continue;
      this.streams.delete(stream);
      this.revokedStreams++;
      this.options.logger.log('warn', 'stream ended: its discovery token is no longer accepted', { node: stream.node });
      stream.end('node.metadata.auth is no longer valid (the discovery token was rotated)');
    }
  }

  /** /status: the accepted versions (never the values) and the last read. */
  status(): Record<string, unknown> {
    return { versions: this.versions, lastRefresh: this.lastRefresh ?? null, streams: this.streams.size, revokedStreams: this.revokedStreams };
  }
}
