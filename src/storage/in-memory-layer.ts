/**
 * The open layer: every value ingest puts since the last flush, readable at once.
 *
 * Speed is the point (ingest puts hundreds of thousands of values per second), so values are not
 * kept as objects and the index allocates nothing per version:
 *
 *   chunks    [ chunk 0 (1 MiB) | chunk 1 | chunk 2 (one oversized value) | chunk 3 ... ]
 *   groups    key high part (first 28 hex digits) -> low 32 bits -> key id
 *             (a dense Int32Array for small lows such as block numbers, else a Map)
 *   keys      per key id: high string, low number, first and last version slot, last LSN
 *   versions  per slot (typed arrays): lsn, position, length, next slot of the same key (-1: none)
 *   position = chunkIndex * 2^32 + offsetInChunk
 *
 * WHY split keys: a key is 36 hex digits whose last 8 are the block number. Ingest knows the
 * relation fork's 28-digit prefix (one memoized string) and the block number, so it puts with
 * `putEncoded(high, low, ...)` and no key string is ever built or hashed per block. Every other
 * caller speaks whole Key strings, which are split on the way in and rebuilt on the way out. A key
 * that is not 36 lower-case hex digits is its own group with low part -1 (tests use such keys).
 *
 * WHY typed arrays: versions survive until the flush, so per-key JS arrays were copied by every
 * young-generation GC; typed-array backing stores live off the heap and are never copied.
 *
 * Values are encoded (value-codec.ts) straight into the chunks: `put` through encodeValueInto,
 * `putEncoded` through a ValueWriter that writes without an intermediate object. Values larger than
 * a quarter chunk get a chunk of their own, so chunks waste at most a quarter of their size.
 *
 * `putReferenced` keeps a value by reference instead (value-codec.ts, "Referenced values"): ingest
 * hands over full-page images and WAL records that lie in the WAL decoder's buffers, which nobody
 * writes again. The buffer joins `chunks` (registered once, its whole size charged to bytesHeld:
 * that is the memory the layer pins) and the version records where the bytes are plus a shape and hole that say how they become the
 * encoded value. Readers get the encoded value assembled (a copy); the flush hands the references
 * to the flush thread (delta-layer-snapshot.ts), which assembles the file's blobs there. So an
 * image is copied once, on the flush thread, instead of once on the ingest thread and once more
 * into the file. Buffers are told apart by object identity, so a caller must pass one object per
 * buffer: batches from the decode thread arrive with a new SharedArrayBuffer object per message,
 * which the decode stage maps back to one (wal/source-identity.ts); charging each object anew
 * made the layer count 64× its WAL and flush far too early.
 *
 *   versions  per slot: lsn, position, stored length, shape (0: encoded bytes), hole
 *
 * A put at the same (key, LSN) as the key's last version replaces it (as Neon's in-memory layer).
 * `freeze(lsnEnd)` makes the layer immutable; it stays readable until its delta file replaces it
 * in the layer map. Reads return copies: redo may modify a page in place.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { limits } from '../limits.js';
import { KEY_SPACE_END, KEY_SPACE_START } from './layer-name.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import {
  decodeValue, SHAPE_ENCODED, shapedEncodedLength, shapedWillInit, ValueObjectWriter, writeShaped, type ValueWriter,
} from './value-codec.js';
import type { Value } from '../value.js';

const POSITION_CHUNK_FACTOR = 0x1_0000_0000;
/** Index bookkeeping charged per version and per key, so openLayerBytes tracks real memory. */
const VERSION_OVERHEAD_BYTES = 24;
const KEY_OVERHEAD_BYTES = 120;
const NO_LSN = Number.MAX_SAFE_INTEGER;
const NO_SLOT = -1;
/** Low part of a key that is not 36 hex digits: the whole key is its high part. */
const WHOLE_KEY = -1;
const KEY_HEX_LENGTH = 36;
const KEY_HIGH_LENGTH = 28;
const SLOTS_INITIAL = 1024;
/** Lows below this are looked up in a group's dense array (4 bytes per low up to the largest). */
const DENSE_LOWS_MAX = 1 << 20;
const DENSE_LOWS_INITIAL = 64;

/** The keys sharing one high part: dense ids (id + 1; 0 = none) for small lows, a Map for others. */
class KeyGroup {
  dense = new Int32Array(DENSE_LOWS_INITIAL);
  sparse: Map<number, number> | undefined;

  idOf(low: number): number {
    if (low >= 0 && low < DENSE_LOWS_MAX) return low < this.dense.length ? this.dense[low]! - 1 : -1;
    return this.sparse?.get(low) ?? -1;
  }

  /** Records `keyId` for `low`; returns the bytes the group grew by. */
  add(low: number, keyId: number): number {
    if (low < 0 || low >= DENSE_LOWS_MAX) {
      this.sparse ??= new Map();
      this.sparse.set(low, keyId);
      return 0;
    }
    let grownBytes = 0;
    if (low >= this.dense.length) {
      let capacity = this.dense.length * 2;
      while (capacity <= low) capacity *= 2;
      const grown = new Int32Array(capacity);
      grown.set(this.dense);
      grownBytes = 4 * (capacity - this.dense.length);
      this.dense = grown;
    }
    this.dense[low] = keyId + 1;
    return grownBytes;
  }

  /** Every low of the group in ascending order (= ascending hex order of the keys). */
  sortedLows(): number[] {
    const lows: number[] = [];
    for (let low = 0; low < this.dense.length; low++) if (this.dense[low] !== 0) lows.push(low);
    if (this.sparse !== undefined) {
      const sparseLows = Float64Array.from(this.sparse.keys()).sort();
      // WHOLE_KEY (-1) sorts first, as the bare high part sorts before its extensions.
      const negative = [...sparseLows].filter((low) => low < 0);
      return [...negative, ...lows, ...[...sparseLows].filter((low) => low >= 0)];
    }
    return lows;
  }
}

const HEX_DIGITS = '0123456789abcdef';

/** Eight lower-case hex digits of a u32. */
function hex8(value: number): string {
  let text = '';
  for (let shift = 28; shift >= 0; shift -= 4) text += HEX_DIGITS[(value >>> shift) & 0xf];
  return text;
}

/** The low 32 bits of a canonical key (last 8 lower-case hex digits), or WHOLE_KEY. */
function keyLowOf(key: Key): number {
  if (key.length !== KEY_HEX_LENGTH) return WHOLE_KEY;
  let low = 0;
  for (let index = KEY_HIGH_LENGTH; index < KEY_HEX_LENGTH; index++) {
    const code = key.charCodeAt(index);
    let digit: number;
    if (code >= 48 && code <= 57) digit = code - 48;
    else if (code >= 97 && code <= 102) digit = code - 87;
    else return WHOLE_KEY;
    low = low * 16 + digit;
  }
  return low;
}

function keyHighOf(key: Key, low: number): string {
  return low === WHOLE_KEY ? key : key.slice(0, KEY_HIGH_LENGTH);
}

function keyOf(high: string, low: number): Key {
  return low === WHOLE_KEY ? high : high + hex8(low);
}

function grownFloat64(array: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(capacity);
  grown.set(array);
  return grown;
}

function grownInt32(array: Int32Array, capacity: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(capacity);
  grown.set(array);
  return grown;
}

/** One version with its encoded value (a view into a chunk, or assembled for a referenced value). */
export interface InMemoryEntry {
  key: Key;
  lsn: Lsn;
  encoded: Uint8Array;
}

/**
 * One version as stored, for the flush: the encoded value is `shape`/`hole` applied to
 * `source[offset, offset + length)` (value-codec.ts writeShaped); `source` is a whole chunk or
 * registered buffer, shared by many versions.
 */
export interface StoredEntry {
  key: Key;
  lsn: Lsn;
  source: Uint8Array;
  offset: number;
  length: number;
  shape: number;
  hole: number;
}

export class InMemoryLayer implements SearchableLayer {
  readonly #chunkBytes: number;
  /** Chunks written by puts, and registered buffers of referenced values (whole-buffer views). */
  readonly #chunks: Uint8Array[] = [];
  /** Chunk index of each registered buffer; the last one is cached (consecutive puts share it). */
  readonly #registered = new Map<ArrayBufferLike, number>();
  /** The array of the last putReferenced, its chunk position base, and its length. */
  #lastSourceArray: Uint8Array | undefined;
  #lastSourceBase = 0;
  #lastSourceLength = 0;
  /** The chunk small values are appended to (undefined until the first put). */
  #chunk: Buffer | undefined;
  #chunkIndex = -1;
  #chunkUsed = 0;
  readonly #groups = new Map<string, KeyGroup>();
  /** The group of the last put: consecutive puts mostly hit the same relation fork. */
  #lastGroupHigh: string | undefined;
  #lastGroup: KeyGroup | undefined;
  // Per key id.
  readonly #keyHigh: string[] = [];
  #keyLow = new Float64Array(SLOTS_INITIAL);
  #keyFirst = new Int32Array(SLOTS_INITIAL);
  #keyLast = new Int32Array(SLOTS_INITIAL);
  #keyLastLsn = new Float64Array(SLOTS_INITIAL);
  // Per version slot.
  #versionLsn = new Float64Array(SLOTS_INITIAL);
  #versionPosition = new Float64Array(SLOTS_INITIAL);
  #versionLength = new Int32Array(SLOTS_INITIAL);
  #versionNext = new Int32Array(SLOTS_INITIAL);
  #versionShape = new Int32Array(SLOTS_INITIAL);
  #versionHole = new Int32Array(SLOTS_INITIAL);
  readonly #objectWriter = new ValueObjectWriter();
  #lsnMin = NO_LSN;
  #lsnMax = -1;
  #bytesHeld = 0;
  #versionCount = 0;
  #frozen: { lsnEnd: Lsn; keyStart: Key; keyEnd: Key } | undefined;

  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = options.chunkBytes ?? limits.inMemoryLayerChunkBytes;
    assert(this.#chunkBytes >= 4096 && this.#chunkBytes < POSITION_CHUNK_FACTOR, 'chunk size out of range');
  }

  get kind(): 'memory' { return 'memory'; }

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
  get keyCount(): number { return this.#keyHigh.length; }
  /** Encoded value bytes plus index bookkeeping. */
  get bytesHeld(): number { return this.#bytesHeld; }

  put(key: Key, lsn: Lsn, value: Value): void {
    const low = keyLowOf(key);
    this.putEncoded(keyHighOf(key, low), low, lsn, this.#objectWriter.reset(value));
  }

  /**
   * Puts the value `writer` encodes at the key `keyHigh + hex8(keyLow)`: `keyHigh` is the key's
   * first 28 hex digits and `keyLow` its last 32 bits (the block number of a relation or SLRU
   * key). If the writer throws, nothing is stored.
   */
  putEncoded(keyHigh: string, keyLow: number, lsn: Lsn, writer: ValueWriter): void {
    assert(this.#frozen === undefined, 'put into a frozen layer');
    assert(lsn >= this.#lsnMax && Number.isSafeInteger(lsn) && lsn >= 0, 'LSNs never go backwards within a layer');
    const length = writer.encodedLength;
    const position = this.#write(length, writer);
    this.#bytesHeld += length;
    this.#putVersion(keyHigh, keyLow, lsn, position, length, SHAPE_ENCODED, 0);
  }

  /**
   * Puts, by reference, the value that `shape` and `hole` make of `source[start, start + length)`
   * (value-codec.ts writeShaped). The caller promises that those bytes are never written again:
   * the layer keeps the whole buffer behind `source` until it is dropped.
   */
  putReferenced(keyHigh: string, keyLow: number, lsn: Lsn, shape: number, hole: number, source: Uint8Array, start: number, length: number): void {
    assert(this.#frozen === undefined, 'put into a frozen layer');
    assert(lsn >= this.#lsnMax && lsn >= 0, 'LSNs never go backwards within a layer');
    // WHY cached by array identity: consecutive puts name the same decoder buffer, and an identity
    // check is much cheaper than reading the `buffer` and `byteOffset` accessors per put.
    if (source !== this.#lastSourceArray) {
      const buffer = source.buffer;
      this.#lastSourceArray = source;
      this.#lastSourceBase = (this.#registered.get(buffer) ?? this.#register(buffer)) * POSITION_CHUNK_FACTOR + source.byteOffset;
      this.#lastSourceLength = source.length;
    }
    assert(shape !== SHAPE_ENCODED && start >= 0 && length > 0 && start + length <= this.#lastSourceLength, 'a referenced value lies inside its source');
    this.#putVersion(keyHigh, keyLow, lsn, this.#lastSourceBase + start, length, shape, hole);
  }

  #register(buffer: ArrayBufferLike): number {
    const chunkIndex = this.#chunks.length;
    this.#chunks.push(new Uint8Array(buffer));
    this.#registered.set(buffer, chunkIndex);
    this.#bytesHeld += buffer.byteLength;
    return chunkIndex;
  }

  #putVersion(keyHigh: string, keyLow: number, lsn: Lsn, position: number, length: number, shape: number, hole: number): void {
    const keyId = this.#keyIdFor(keyHigh, keyLow);
    const last = this.#keyLast[keyId]!;
    if (last !== NO_SLOT && this.#keyLastLsn[keyId] === lsn) {
      this.#versionPosition[last] = position;
      this.#versionLength[last] = length;
      this.#versionShape[last] = shape;
      this.#versionHole[last] = hole;
    } else {
      const slot = this.#appendVersion(keyId, last, lsn, position, length);
      this.#versionShape[slot] = shape;
      this.#versionHole[slot] = hole;
    }
    if (lsn < this.#lsnMin) this.#lsnMin = lsn;
    this.#lsnMax = lsn;
  }

  #appendVersion(keyId: number, last: number, lsn: Lsn, position: number, length: number): number {
    const slot = this.#versionCount;
    if (slot === this.#versionLsn.length) this.#growVersions();
    this.#versionLsn[slot] = lsn;
    this.#versionPosition[slot] = position;
    this.#versionLength[slot] = length;
    this.#versionNext[slot] = NO_SLOT;
    if (last === NO_SLOT) this.#keyFirst[keyId] = slot;
    else this.#versionNext[last] = slot;
    this.#keyLast[keyId] = slot;
    this.#keyLastLsn[keyId] = lsn;
    this.#versionCount = slot + 1;
    this.#bytesHeld += VERSION_OVERHEAD_BYTES;
    return slot;
  }

  #growVersions(): void {
    const capacity = this.#versionLsn.length * 2;
    this.#versionLsn = grownFloat64(this.#versionLsn, capacity);
    this.#versionPosition = grownFloat64(this.#versionPosition, capacity);
    this.#versionLength = grownInt32(this.#versionLength, capacity);
    this.#versionNext = grownInt32(this.#versionNext, capacity);
    this.#versionShape = grownInt32(this.#versionShape, capacity);
    this.#versionHole = grownInt32(this.#versionHole, capacity);
  }

  /** The id of a key, created (with no versions) when new. */
  #keyIdFor(keyHigh: string, keyLow: number): number {
    let group = keyHigh === this.#lastGroupHigh ? this.#lastGroup : this.#groups.get(keyHigh);
    if (group === undefined) {
      group = new KeyGroup();
      this.#groups.set(keyHigh, group);
      this.#bytesHeld += 4 * DENSE_LOWS_INITIAL;
    }
    this.#lastGroupHigh = keyHigh;
    this.#lastGroup = group;
    const known = group.idOf(keyLow);
    if (known >= 0) return known;
    const keyId = this.#keyHigh.length;
    if (keyId === this.#keyFirst.length) this.#growKeys();
    this.#keyHigh.push(keyHigh);
    this.#keyLow[keyId] = keyLow;
    this.#keyFirst[keyId] = NO_SLOT;
    this.#keyLast[keyId] = NO_SLOT;
    this.#bytesHeld += KEY_OVERHEAD_BYTES + group.add(keyLow, keyId);
    return keyId;
  }

  #growKeys(): void {
    const capacity = this.#keyFirst.length * 2;
    this.#keyLow = grownFloat64(this.#keyLow, capacity);
    this.#keyFirst = grownInt32(this.#keyFirst, capacity);
    this.#keyLast = grownInt32(this.#keyLast, capacity);
    this.#keyLastLsn = grownFloat64(this.#keyLastLsn, capacity);
  }

  /** Has `writer` write `length` bytes into chunk memory; returns their position. */
  #write(length: number, writer: ValueWriter): number {
    if (length > this.#chunkBytes / 4) {
      const own = Buffer.allocUnsafe(length);
      writer.writeInto(own, 0);
      this.#chunks.push(own);
      return (this.#chunks.length - 1) * POSITION_CHUNK_FACTOR;
    }
    let chunk = this.#chunk;
    if (chunk === undefined || this.#chunkUsed + length > chunk.length) {
      chunk = Buffer.allocUnsafe(this.#chunkBytes);
      this.#chunks.push(chunk);
      this.#chunk = chunk;
      this.#chunkIndex = this.#chunks.length - 1;
      this.#chunkUsed = 0;
    }
    const offset = this.#chunkUsed;
    writer.writeInto(chunk, offset);
    this.#chunkUsed = offset + length;
    return this.#chunkIndex * POSITION_CHUNK_FACTOR + offset;
  }

  /** Makes the layer immutable; `lsnEnd` (exclusive) must lie above every LSN put. */
  /**
   * Makes the layer immutable, ending its LSN range at `lsnEnd`. Its key range becomes the whole
   * key space: the file it is flushed to is an L0 delta, which the layer map recognises by that
   * range (layer-map.ts).
   */
  freeze(lsnEnd: Lsn): void {
    assert(this.#frozen === undefined, 'layer frozen twice');
    assert(lsnEnd > this.#lsnMax, 'a frozen layer ends above its last LSN');
    this.#frozen = { lsnEnd, keyStart: KEY_SPACE_START, keyEnd: KEY_SPACE_END };
  }

  /** The id of an existing key, or -1. */
  #keyIdOf(key: Key): number {
    const low = keyLowOf(key);
    return this.#groups.get(keyHighOf(key, low))?.idOf(low) ?? -1;
  }

  /** Versions of `key`; an in-memory VersionRef's position is the version's slot. */
  collectVersions(key: Key, lsnMax: Lsn, into: VersionRef[]): void {
    const keyId = this.#keyIdOf(key);
    if (keyId < 0) return;
    for (let slot = this.#keyFirst[keyId]!; slot !== NO_SLOT; slot = this.#versionNext[slot]!) {
      const lsn = this.#versionLsn[slot]!;
      if (lsn > lsnMax) break;
      const position = this.#versionPosition[slot]!;
      const shape = this.#versionShape[slot]!;
      const chunk = this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)]!;
      const willInit = shapedWillInit(shape, chunk, position % POSITION_CHUNK_FACTOR);
      const length = shapedEncodedLength(shape, this.#versionHole[slot]!, this.#versionLength[slot]!);
      into.push({ lsn, willInit, layer: this, position: slot, length, checksum: 0 });
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
    assert(ref.layer === this && ref.position >= 0 && ref.position < this.#versionCount, 'version belongs to this layer');
    const slot = ref.position;
    if (this.#versionShape[slot] === SHAPE_ENCODED) return decodeValue(this.#encodedAt(slot), true);
    return decodeValue(this.#encodedAt(slot), false);
  }

  /** The encoded value of a slot: a view of its chunk, or assembled (a copy) when referenced. */
  #encodedAt(slot: number): Uint8Array {
    const position = this.#versionPosition[slot]!;
    const chunk = this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)];
    assert(chunk !== undefined, 'position names an existing chunk');
    const offset = position % POSITION_CHUNK_FACTOR;
    const length = this.#versionLength[slot]!;
    const shape = this.#versionShape[slot]!;
    if (shape === SHAPE_ENCODED) return chunk.subarray(offset, offset + length);
    const hole = this.#versionHole[slot]!;
    const encoded = new Uint8Array(shapedEncodedLength(shape, hole, length));
    writeShaped(shape, hole, chunk, offset, length, encoded, 0, this.#versionLsn[slot]!);
    return encoded;
  }

  collectKeys(start: Key, end: Key, lsnMax: Lsn, into: Set<Key>): void {
    for (let keyId = 0; keyId < this.#keyHigh.length; keyId++) {
      if (this.#versionLsn[this.#keyFirst[keyId]!]! > lsnMax) continue;
      const key = keyOf(this.#keyHigh[keyId]!, this.#keyLow[keyId]!);
      if (key >= start && key < end) into.add(key);
    }
  }

  /** Key ids in key order: groups by high part, then low parts numerically (= hex order). */
  #sortedKeyIds(): number[] {
    const highs = [...this.#groups.keys()];
    const allCanonical = highs.every((high) => high.length === KEY_HIGH_LENGTH);
    if (!allCanonical) {
      const ids = this.#keyHigh.map((_, keyId) => keyId);
      const keys = ids.map((keyId) => keyOf(this.#keyHigh[keyId]!, this.#keyLow[keyId]!));
      return ids.sort((left, right) => (keys[left]! < keys[right]! ? -1 : keys[left]! > keys[right]! ? 1 : 0));
    }
    const sorted: number[] = [];
    for (const high of highs.sort()) {
      const group = this.#groups.get(high)!;
      for (const low of group.sortedLows()) sorted.push(group.idOf(low));
    }
    return sorted;
  }

  /** Every version in (key, LSN) order with its encoded value (referenced values are assembled). */
  *entries(): Generator<InMemoryEntry> {
    for (const keyId of this.#sortedKeyIds()) {
      const key = keyOf(this.#keyHigh[keyId]!, this.#keyLow[keyId]!);
      for (let slot = this.#keyFirst[keyId]!; slot !== NO_SLOT; slot = this.#versionNext[slot]!) {
        yield { key, lsn: this.#versionLsn[slot]!, encoded: this.#encodedAt(slot) };
      }
    }
  }

  /** Every version in (key, LSN) order as stored (no copies): what a flush writes. */
  *storedEntries(): Generator<StoredEntry> {
    for (const keyId of this.#sortedKeyIds()) {
      const key = keyOf(this.#keyHigh[keyId]!, this.#keyLow[keyId]!);
      for (let slot = this.#keyFirst[keyId]!; slot !== NO_SLOT; slot = this.#versionNext[slot]!) {
        const position = this.#versionPosition[slot]!;
        yield {
          key, lsn: this.#versionLsn[slot]!, source: this.#chunks[Math.floor(position / POSITION_CHUNK_FACTOR)]!,
          offset: position % POSITION_CHUNK_FACTOR, length: this.#versionLength[slot]!,
          shape: this.#versionShape[slot]!, hole: this.#versionHole[slot]!,
        };
      }
    }
  }
}
