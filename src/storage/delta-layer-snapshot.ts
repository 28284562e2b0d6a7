/**
 * A frozen in-memory layer reduced to plain, thread-transferable data: what the ingest thread hands
 * to the flush worker (flush-worker.ts), so that sorting out the layout, checksums, writes and
 * fsync of a delta layer file never run on the ingest thread.
 *
 *   keysHex         "<key 0: 36 hex digits><key 1>..."      distinct keys, ascending
 *   keyEntriesEnd   [3, 4, 9, ...]                          per key: one past its last entry
 *   entryLsn        [lsn, lsn, lsn, | lsn, | ...]           per entry, (key, LSN) order
 *   entrySource     [2, 0, 7, ...]                          per entry: index into `sources`
 *   entryOffset     [...]  entryLength [...]                per entry: bytes inside that source
 *   sources         [ SharedArrayBuffer, ... ]              the layer's chunk memory (or copies)
 *
 * WHY this shape: a layer of 200 MB holds ~10^6 versions; per-entry objects would cost the ingest
 * thread allocations and the structured clone far more than four typed arrays, which transfer for
 * free. The value bytes are not rearranged here (that would be a gather on the ingest thread): each
 * chunk is copied whole into a SharedArrayBuffer (a memcpy, or nothing if the chunk already is
 * shared memory), and the worker gathers the blobs into file order.
 *
 * WHY time slices: the snapshot walks every version and copies every chunk. Done in one go, that is
 * a stall of the ingest thread of ~100 ms per 200 MB; `sliceMs` bounds each synchronous step and
 * yields to the event loop (setImmediate) between steps, so ingest keeps running while a flush is
 * being prepared. The layer is frozen, so nothing changes under the walk.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { InMemoryLayer } from './in-memory-layer.js';

export const KEY_HEX_DIGITS = 36;
/** Entries walked between two looks at the clock. */
const ENTRIES_PER_CLOCK_CHECK = 1024;

export interface DeltaLayerSnapshot {
  lsnStart: Lsn;
  /** Exclusive. */
  lsnEnd: Lsn;
  keyStart: Key;
  /** Exclusive. */
  keyEnd: Key;
  keysHex: string;
  keyEntriesEnd: Uint32Array;
  entryLsn: Float64Array;
  entrySource: Uint32Array;
  entryOffset: Uint32Array;
  entryLength: Uint32Array;
  entryShape: Int32Array;
  entryHole: Int32Array;
  sources: ArrayBufferLike[];
}

export interface SnapshotOptions {
  /** Copy chunk memory into SharedArrayBuffers (for another thread); false: reference it. */
  shareMemory: boolean;
  /** Longest synchronous step before yielding to the event loop; Infinity never yields. */
  sliceMs: number;
}

/** Bookkeeping of the walk: distinct chunk buffers and how far into each the entries reach. */
class SourceTable {
  readonly buffers: ArrayBufferLike[] = [];
  readonly extents: number[] = [];
  readonly #ids = new Map<ArrayBufferLike, number>();
  #lastBuffer: ArrayBufferLike | undefined;
  #lastId = -1;

  idOf(buffer: ArrayBufferLike, end: number): number {
    let id = this.#lastId;
    if (buffer !== this.#lastBuffer) {
      id = this.#ids.get(buffer) ?? this.#add(buffer);
      this.#lastBuffer = buffer;
      this.#lastId = id;
    }
    if (end > this.extents[id]!) this.extents[id] = end;
    return id;
  }

  #add(buffer: ArrayBufferLike): number {
    const id = this.buffers.length;
    this.buffers.push(buffer);
    this.extents.push(0);
    this.#ids.set(buffer, id);
    return id;
  }
}

/** A clock-checked stepper: `due()` is true when the current slice has used its time. */
class Slicer {
  readonly #sliceMs: number;
  #deadline: number;

  constructor(sliceMs: number) {
    assert(sliceMs > 0, 'a time slice is positive');
    this.#sliceMs = sliceMs;
    this.#deadline = performance.now() + sliceMs;
  }

  async yieldIfDue(): Promise<void> {
    if (this.#sliceMs === Infinity || performance.now() < this.#deadline) return;
    await yieldToEventLoop();
    this.#deadline = performance.now() + this.#sliceMs;
  }
}

/** Builds the snapshot of a frozen, non-empty layer (see the header); the layer stays readable. */
export async function snapshotFrozenLayer(layer: InMemoryLayer, options: SnapshotOptions): Promise<DeltaLayerSnapshot> {
  assert(layer.isFrozen, 'only a frozen layer is snapshotted');
  assert(!layer.isEmpty, 'an empty layer has nothing to write');
  const slicer = new Slicer(options.sliceMs);
  const entryCount = layer.versionCount;
  const entryLsn = new Float64Array(entryCount);
  const entrySource = new Uint32Array(entryCount);
  const entryOffset = new Uint32Array(entryCount);
  const entryLength = new Uint32Array(entryCount);
  const entryShape = new Int32Array(entryCount);
  const entryHole = new Int32Array(entryCount);
  const keyEntriesEnd = new Uint32Array(layer.keyCount);
  const keys: Key[] = [];
  const sources = new SourceTable();
  let entry = 0;
  let lastKey = '';
  for (const version of layer.storedEntries()) {
    if (version.key !== lastKey) {
      assert(version.key > lastKey && version.key.length === KEY_HEX_DIGITS, 'keys arrive ascending, 36 hex digits each');
      if (keys.length > 0) keyEntriesEnd[keys.length - 1] = entry;
      keys.push(version.key);
      lastKey = version.key;
    }
    const source = version.source;
    const offset = source.byteOffset + version.offset;
    entryLsn[entry] = version.lsn;
    entrySource[entry] = sources.idOf(source.buffer, offset + version.length);
    entryOffset[entry] = offset;
    entryLength[entry] = version.length;
    entryShape[entry] = version.shape;
    entryHole[entry] = version.hole;
    entry++;
    if ((entry & (ENTRIES_PER_CLOCK_CHECK - 1)) === 0) await slicer.yieldIfDue();
  }
  assert(entry === entryCount, 'the walk saw every version of the layer');
  assert(keys.length > 0 && keys.length <= keyEntriesEnd.length, 'the walk saw each key once');
  keyEntriesEnd[keys.length - 1] = entry;
  const memory = options.shareMemory ? await shareSources(sources, slicer) : sources.buffers;
  return {
    lsnStart: layer.lsnStart, lsnEnd: layer.lsnEnd, keyStart: layer.keyStart, keyEnd: layer.keyEnd,
    keysHex: keys.join(''), keyEntriesEnd: keyEntriesEnd.subarray(0, keys.length),
    entryLsn, entrySource, entryOffset, entryLength, entryShape, entryHole, sources: memory,
  };
}

/** Copies each non-shared source, up to the last byte an entry uses, into a SharedArrayBuffer. */
async function shareSources(sources: SourceTable, slicer: Slicer): Promise<ArrayBufferLike[]> {
  const shared: ArrayBufferLike[] = [];
  for (let id = 0; id < sources.buffers.length; id++) {
    const buffer = sources.buffers[id]!;
    if (buffer instanceof SharedArrayBuffer) {
      shared.push(buffer);
      continue;
    }
    const extent = sources.extents[id]!;
    const copy = new SharedArrayBuffer(extent);
    new Uint8Array(copy).set(new Uint8Array(buffer, 0, extent));
    shared.push(copy);
    await slicer.yieldIfDue();
  }
  assert(shared.length === sources.buffers.length, 'every source is shared');
  return shared;
}

/** The transfer list of a snapshot: its typed arrays' own buffers (never the shared sources). */
export function snapshotTransferList(snapshot: DeltaLayerSnapshot): ArrayBuffer[] {
  const arrays = [
    snapshot.keyEntriesEnd, snapshot.entryLsn, snapshot.entrySource, snapshot.entryOffset, snapshot.entryLength,
    snapshot.entryShape, snapshot.entryHole,
  ];
  const buffers = new Set<ArrayBuffer>();
  for (const array of arrays) {
    if (array.buffer instanceof ArrayBuffer) buffers.add(array.buffer);
  }
  return [...buffers];
}

/** Checks the shape of a snapshot that crossed a thread boundary; returns a reason when broken. */
export function snapshotProblem(snapshot: DeltaLayerSnapshot): string | undefined {
  const entryCount = snapshot.entryLsn.length;
  const keyCount = snapshot.keyEntriesEnd.length;
  if (entryCount === 0 || keyCount === 0) return 'snapshot holds no entries';
  if (snapshot.keysHex.length !== keyCount * KEY_HEX_DIGITS) return 'snapshot keys do not match their entry ranges';
  if (
    snapshot.entrySource.length !== entryCount || snapshot.entryOffset.length !== entryCount || snapshot.entryLength.length !== entryCount ||
    snapshot.entryShape.length !== entryCount || snapshot.entryHole.length !== entryCount
  ) {
    return 'snapshot entry arrays differ in length';
  }
  if (snapshot.keyEntriesEnd[keyCount - 1] !== entryCount) return 'snapshot key ranges do not cover every entry';
  if (!(snapshot.lsnStart < snapshot.lsnEnd && snapshot.keyStart < snapshot.keyEnd)) return 'snapshot range is empty';
  return undefined;
}
