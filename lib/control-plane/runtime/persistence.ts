import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { RouteDocument } from '../../model';
import { PlatformSettings } from './context';
import { ResourceKind } from './protos';

/** The last good state: the context that rendered it and each profile's validated resources. */
export interface PersistedState {
  readonly format: 1;
  readonly savedAt: string;
  readonly region: string;
  readonly context: { readonly settings: PlatformSettings; readonly routes: readonly RouteDocument[]; readonly generation?: number };
  readonly profiles: Readonly<
    Record<string, Readonly<Record<ResourceKind, ReadonlyArray<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>>>
  >;
}

export interface SnapshotStore {
  readonly description: string;
  load(): Promise<PersistedState | undefined>;
  save(state: PersistedState): Promise<void>;
}

function parse(text: string, origin: string): PersistedState {
  const state = JSON.parse(text) as PersistedState;
  if (state.format !== 1 || typeof state.profiles !== 'object' || !state.context) throw new Error(`${origin}: not a persisted control plane snapshot`);
  return state;
}

/** A file under EDGE_DATA_DIR (local), written atomically. */
export class FileSnapshotStore implements SnapshotStore {
  readonly description: string;
  private readonly path: string;
  constructor(dataDir: string) {
    this.path = join(dataDir, 'control-plane', 'last-good-snapshot.json');
    this.description = `file ${this.path}`;
  }
  async load(): Promise<PersistedState | undefined> {
    try {
      return parse(await readFile(this.path, 'utf8'), this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  async save(state: PersistedState): Promise<void> {
    await mkdir(join(this.path, '..'), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(state));
      await rename(temp, this.path);
    } catch (err) {
      // Leave no half-written temp file behind; the last good file stays as it was.
      await rm(temp, { force: true });
      throw err;
    }
  }
}

/** An object in EDGE_SNAPSHOT_BUCKET (AWS). */
export class S3SnapshotStore implements SnapshotStore {
  readonly description: string;
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
  ) {
    this.description = `s3://${bucket}/${key}`;
  }
  async load(): Promise<PersistedState | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      return parse((await out.Body?.transformToString()) ?? '', this.description);
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }
  async save(state: PersistedState): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: JSON.stringify(state), ContentType: 'application/json', ServerSideEncryption: 'AES256' }),
    );
  }
}
