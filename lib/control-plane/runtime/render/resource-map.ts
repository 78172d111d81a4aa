/**
 * A map of rendered resources shared between snapshots: its entries live in SHARDS shards
 * (by a hash of the name), and a new map is made from an older one by copying only the shards
 * that change (copy on write), so a render that changes one resource among ten thousand
 * copies one shard, and two maps of one lineage are compared shard by shard, skipping the
 * shards they share. Each shard keeps the sums of its resources' mixes (two 32-bit words per
 * resource, see snapshot.ts), so the content hash of the whole map is a sum over the shards.
 * Read-only once built; `edit()` starts a new one.
 */
export const SHARDS = 256;

export interface Mixed {
  readonly name: string;
  readonly version: string;
}

interface Shard<V> {
  readonly map: Map<string, V>;
  a: number;
  b: number;
}

/** Walks the shards' own map iterators in turn (a generator with yield* is several times slower per item). */
class ShardIterator<V, T> implements IterableIterator<T> {
  private index = 0;
  private current?: Iterator<T>;

  constructor(
    private readonly shards: ReadonlyArray<Shard<V> | undefined>,
    private readonly open: (map: Map<string, V>) => Iterator<T>,
  ) {}

  next(): IteratorResult<T, undefined> {
    for (;;) {
      if (this.current) {
        const step = this.current.next();
        if (!step.done) return step;
        this.current = undefined;
      }
      if (this.index >= this.shards.length) return { done: true, value: undefined };
      const shard = this.shards[this.index++];
      if (shard) this.current = this.open(shard.map);
    }
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this;
  }
}

/** A ShardIterator typed as the iterator a ReadonlyMap returns (it has no Iterator helpers, which Node 20 lacks too). */
const iterate = <V, T>(shards: ReadonlyArray<Shard<V> | undefined>, open: (map: Map<string, V>) => Iterator<T>) => new ShardIterator(shards, open) as unknown as MapIterator<T>;

/** FNV-1a over the name's UTF-16 code units, to a shard index. */
function shardOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARDS;
}

export class ResourceMap<V extends Mixed> implements ReadonlyMap<string, V> {
  private constructor(
    /** @internal */ readonly shards: ReadonlyArray<Shard<V> | undefined>,
    readonly size: number,
    private readonly mix: (value: V) => readonly [number, number],
  ) {}

  static empty<V extends Mixed>(mix: (value: V) => readonly [number, number]): ResourceMap<V> {
    return new ResourceMap<V>(new Array<Shard<V> | undefined>(SHARDS).fill(undefined), 0, mix);
  }

  /** A map with `entries` (for tests and whole renders). */
  static of<V extends Mixed>(mix: (value: V) => readonly [number, number], entries: Iterable<readonly [string, V]>): ResourceMap<V> {
    const editor = ResourceMap.empty(mix).edit();
    for (const [name, value] of entries) editor.set(name, value);
    return editor.seal();
  }

  get(name: string): V | undefined {
    return this.shards[shardOf(name)]?.map.get(name);
  }

  has(name: string): boolean {
    return this.shards[shardOf(name)]?.map.has(name) ?? false;
  }

  entries(): MapIterator<[string, V]> {
    return iterate(this.shards, (map) => map.entries());
  }

  keys(): MapIterator<string> {
    return iterate(this.shards, (map) => map.keys());
  }

  values(): MapIterator<V> {
    return iterate(this.shards, (map) => map.values());
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** The sums of the resources' mixes (order-free content hash inputs). */
  sums(): readonly [number, number] {
    let a = 0;
    let b = 0;
    for (const shard of this.shards) {
      if (!shard) continue;
      a = (a + shard.a) >>> 0;
      b = (b + shard.b) >>> 0;
    }
    return [a, b];
  }

  /**
   * What differs from `older`: the names whose value is new or has another version, and the
   * names only `older` has. Shards the two maps share are skipped.
   */
  diff(older: ReadonlyMap<string, V>): { changed: Set<string>; removed: string[] } {
    const changed = new Set<string>();
    const removed: string[] = [];
    if (!(older instanceof ResourceMap)) {
      for (const [name, value] of this.entries()) if (older.get(name)?.version !== value.version) changed.add(name);
      if (changed.size > 0 || older.size !== this.size) for (const name of older.keys()) if (!this.has(name)) removed.push(name);
      return { changed, removed };
    }
    const old = older as ResourceMap<V>;
    for (let i = 0; i < SHARDS; i++) {
      const mine = this.shards[i];
      const theirs = old.shards[i];
      if (mine === theirs) continue;
      if (mine) for (const [name, value] of mine.map) if (theirs?.map.get(name)?.version !== value.version) changed.add(name);
      if (theirs) for (const name of theirs.map.keys()) if (!mine?.map.has(name)) removed.push(name);
    }
    return { changed, removed };
  }

  /** An editor that starts from this map and leaves it as it is. */
  edit(): ResourceMapEditor<V> {
    return new ResourceMapEditor(this.shards, this.size, this.mix, (shards, size) => new ResourceMap(shards, size, this.mix));
  }
}

/** Builds a new ResourceMap from an older one, copying a shard the first time it changes. */
export class ResourceMapEditor<V extends Mixed> {
  private readonly shards: Array<Shard<V> | undefined>;
  private readonly copied = new Set<number>();
  private sealed = false;

  constructor(
    base: ReadonlyArray<Shard<V> | undefined>,
    private size: number,
    private readonly mix: (value: V) => readonly [number, number],
    private readonly make: (shards: ReadonlyArray<Shard<V> | undefined>, size: number) => ResourceMap<V>,
  ) {
    this.shards = [...base];
  }

  get(name: string): V | undefined {
    return this.shards[shardOf(name)]?.map.get(name);
  }

  has(name: string): boolean {
    return this.shards[shardOf(name)]?.map.has(name) ?? false;
  }

  private writable(index: number): Shard<V> {
    if (this.sealed) throw new Error('ResourceMapEditor: sealed');
    let shard = this.shards[index];
    if (!this.copied.has(index)) {
      shard = shard ? { map: new Map(shard.map), a: shard.a, b: shard.b } : { map: new Map(), a: 0, b: 0 };
      this.shards[index] = shard;
      this.copied.add(index);
    }
    return shard!;
  }

  set(name: string, value: V): void {
    const shard = this.writable(shardOf(name));
    const old = shard.map.get(name);
    if (old) this.remove(shard, old);
    else this.size++;
    shard.map.set(name, value);
    const [x, y] = this.mix(value);
    shard.a = (shard.a + x) >>> 0;
    shard.b = (shard.b + y) >>> 0;
  }

  delete(name: string): boolean {
    const index = shardOf(name);
    if (!this.shards[index]?.map.has(name)) return false;
    const shard = this.writable(index);
    this.remove(shard, shard.map.get(name)!);
    shard.map.delete(name);
    this.size--;
    return true;
  }

  private remove(shard: Shard<V>, value: V): void {
    const [x, y] = this.mix(value);
    shard.a = (shard.a - x) >>> 0;
    shard.b = (shard.b - y) >>> 0;
  }

  /** The new map; the editor is done. */
  seal(): ResourceMap<V> {
    this.sealed = true;
    for (const index of this.copied) if (this.shards[index]!.map.size === 0) this.shards[index] = undefined;
    return this.make(this.shards, this.size);
  }
}
