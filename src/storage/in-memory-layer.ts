/**
 * The open layer: every value ingest puts since the last flush, readable at once.
 *
 * Speed is the point (ingest puts hundreds of thousands of values per second), so values are not
 * kept as objects: each is encoded (value-codec.ts) into large append-only chunks, and the index
 * maps a key to one flat number array of its versions, ascending by LSN:
 *
 *   chunks   [ chunk 0 (1 MiB) | chunk 1 | chunk 2 (one oversized value) | chunk 3 ... ]
 *   index    key -> [lsn, position, length, lsn, position, length, ...]
 *   position = chunkIndex * 2^32 + offsetInChunk
 *
 * A put costs one encode into the current chunk and three pushes (plus a Map entry and an array
 * for a new key). Values larger than a quarter chunk get a chunk of their own, so chunks waste at
 * most a quarter of their size.
 *
 * A put at the same (key, LSN) as the key's last version replaces it (as Neon's in-memory layer).
 * `freeze(lsnEnd)` makes the layer immutable; it stays readable until its delta file replaces it
 * in the layer map. Reads return copies: redo may modify a page in place.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { limits } from '../limits.js';
import { keySuccessor, KEY_SPACE_END, KEY_SPACE_START } from './layer-name.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import { decodeValue, encodedValueLength, encodedWillInit, encodeValueInto } from './value-codec.js';
import type { Value } from './value.js';

const POSITION_CHUNK_FACTOR = 0x1_0000_0000;
/** Index bookkeeping charged per version and per key, so openLayerBytes tracks real memory. */
const VERSION_OVERHEAD_BYTES = 24;
const KEY_OVERHEAD_BYTES = 120;
const NO_LSN = Number.MAX_SAFE_INTEGER;

/** One encoded version, as the flush iterates them (bytes is a view into a chunk). */
export interface InMemoryEntry {
  key: Key;
  lsn: Lsn;
  encoded: Uint8Array;
}

export class InMemoryLayer implements SearchableLayer {
  readonly #chunkBytes: number;
  readonly #chunks: Buffer[] = [];
  #chunkIndex = -1;
  #chunkUsed = 0;
  readonly #index = new Map<Key, number[]>();
  #lsnMin = NO_LSN;
  #lsnMax = -1;
  #bytesHeld = 0;
  #versionCount = 0;
  #frozen: { lsnEnd: Lsn; keyStart: Key; keyEnd: Key } | undefined;

  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = options.chunkBytes ?? limits.inMemoryLayerChunkBytes;
    assert(this.#chunkBytes >= 4096 && this.#chunkBytes < POSITION_CHUNK_FACTOR, 'chunk size out of range');
  }

  get description(): string {
    return this.#frozen ? 'in-memory frozen layer' : 'in-memory open layer';
  }
  get keyStart(): Key { return this.#frozen?.keyStart ?? KEY_SPACE_START; }
  get keyEnd(): Key { return this.#frozen?.keyEnd ?? KEY_SPACE_END; }
  /** Lowest LSN put (MAX_SAFE_INTEGER while empty, so searches skip an empty layer). */
  get lsnStart(): Lsn { return this.#lsnMin; }
  get lsnEnd(): Lsn { return this.#frozen?.lsnEnd ?? NO_LSN; }
  /** Highest LSN put, -1 while empty. */
  get lsnMax(): Lsn { return this.#lsnMax; }
  get isFrozen(): boolean { return this.#frozen !== undefined; }
  get isEmpty(): boolean { return this.#versionCount === 0; }
  get versionCount(): number { return this.#versionCount; }
  get keyCount(): number { return this.#index.size; }
  /** Encoded value bytes plus index bookkeeping. */
  get bytesHeld(): number { return this.#bytesHeld; }

  put(key: Key, lsn: Lsn, value: Value): void {
    assert(this.#frozen === undefined, 'put into a frozen layer');
    assert(lsn >= this.#lsnMax && Number.isSafeInteger(lsn) && lsn >= 0, 'LSNs never go backwards within a layer');
    const length = encodedValueLength(value);
    const position = this.#reserve(length);
    const chunk = this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)]!;
    encodeValueInto(value, chunk, position % POSITION_CHUNK_FACTOR);
    let versions = this.#index.get(key);
    if (versions === undefined) {
      versions = [];
      this.#index.set(key, versions);
      this.#bytesHeld += KEY_OVERHEAD_BYTES;
    }
    const count = versions.length;
    if (count > 0 && versions[count - 3] === lsn) {
      versions[count - 2] = position;
      versions[count - 1] = length;
    } else {
      versions.push(lsn, position, length);
      this.#versionCount++;
      this.#bytesHeld += VERSION_OVERHEAD_BYTES;
    }
    this.#bytesHeld += length;
    if (lsn < this.#lsnMin) this.#lsnMin = lsn;
    this.#lsnMax = lsn;
  }

  /** Room for `length` bytes; returns its position. */
  #reserve(length: number): number {
    if (length > this.#chunkBytes / 4) {
      this.#chunks.push(Buffer.allocUnsafe(length));
      return (this.#chunks.length - 1) * POSITION_CHUNK_FACTOR;
    }
    const current = this.#chunkIndex < 0 ? undefined : this.#chunks[this.#chunkIndex];
    if (current === undefined || this.#chunkUsed + length > current.length) {
      this.#chunks.push(Buffer.allocUnsafe(this.#chunkBytes));
      this.#chunkIndex = this.#chunks.length - 1;
      this.#chunkUsed = 0;
    }
    const position = this.#chunkIndex * POSITION_CHUNK_FACTOR + this.#chunkUsed;
    this.#chunkUsed += length;
    return position;
  }

  /** Makes the layer immutable; `lsnEnd` (exclusive) must lie above every LSN put. */
  freeze(lsnEnd: Lsn): void {
    assert(this.#frozen === undefined, 'layer frozen twice');
    assert(lsnEnd > this.#lsnMax, 'a frozen layer ends above its last LSN');
    let keyMin: Key | undefined;
    let keyMax: Key | undefined;
    for (const key of this.#index.keys()) {
      if (keyMin === undefined || key < keyMin) keyMin = key;
      if (keyMax === undefined || key > keyMax) keyMax = key;
    }
    this.#frozen = {
      lsnEnd,
      keyStart: keyMin ?? KEY_SPACE_START,
      keyEnd: keyMax === undefined ? KEY_SPACE_END : keySuccessor(keyMax),
    };
  }

  collectVersions(key: Key, lsnMax: Lsn, into: VersionRef[]): void {
    const versions = this.#index.get(key);
    if (versions === undefined) return;
    for (let index = 0; index < versions.length; index += 3) {
      const lsn = versions[index]!;
      if (lsn > lsnMax) break;
      const position = versions[index + 1]!;
      const chunk = this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)]!;
      const willInit = encodedWillInit(chunk, position % POSITION_CHUNK_FACTOR);
      into.push({ lsn, willInit, layer: this, position, length: versions[index + 2]!, checksum: 0 });
    }
  }

  readValue(ref: VersionRef): Promise<Value> {
    return Promise.resolve(this.readValueNow(ref));
  }

  readValues(refs: readonly VersionRef[]): Promise<Value[]> {
    return Promise.resolve(refs.map((ref) => this.readValueNow(ref)));
  }

  /** Synchronous read (the in-memory layer needs no I/O). */
  readValueNow(ref: VersionRef): Value {
    assert(ref.layer === this, 'version belongs to another layer');
    return decodeValue(this.#encodedAt(ref.position, ref.length), true);
  }

  #encodedAt(position: number, length: number): Uint8Array {
    const chunk = this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)];
    assert(chunk !== undefined, 'position names an existing chunk');
    const offset = position % POSITION_CHUNK_FACTOR;
    return chunk.subarray(offset, offset + length);
  }

  collectKeys(start: Key, end: Key, lsnMax: Lsn, into: Set<Key>): void {
    for (const [key, versions] of this.#index) {
      if (key >= start && key < end && versions[0]! <= lsnMax) into.add(key);
    }
  }

  /** Every version in (key, LSN) order: what a flush writes. Views are valid while the layer lives. */
  *entries(): Generator<InMemoryEntry> {
    const keys = [...this.#index.keys()].sort();
    for (const key of keys) {
      const versions = this.#index.get(key)!;
      for (let index = 0; index < versions.length; index += 3) {
        yield { key, lsn: versions[index]!, encoded: this.#encodedAt(versions[index + 1]!, versions[index + 2]!) };
      }
    }
  }
}
