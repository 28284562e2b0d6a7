/**
 * A TimelineStore without files, for unit tests and the HTTP tests: one InMemoryLayer holds every
 * value forever, and flush only advances disk_consistent_lsn ("durable" by fiat) and resets the
 * openLayerBytes count. Reads use the same LayerMap search as the on-disk store, so reconstruct
 * semantics are identical.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { ImageEntries } from './image-layer.js';
import { InMemoryLayer } from './in-memory-layer.js';
import { LayerMap } from './layer-map.js';
import type { TimelineStore } from './types.js';
import type { ReconstructData, Value } from '../value.js';
import type { ValueWriter } from './value-codec.js';

const MEMORY_STORE_CHUNK_BYTES = 256 * 1024;

export class MemoryTimelineStore implements TimelineStore {
  readonly #layer = new InMemoryLayer({ chunkBytes: MEMORY_STORE_CHUNK_BYTES });
  readonly #layerMap = new LayerMap();
  #lastPutLsn: Lsn = 0;
  #diskConsistentLsn: Lsn = 0;
  #bytesAtLastFlush = 0;
  #closed = false;

  constructor() {
    this.#layerMap.add(this.#layer);
  }

  get lastPutLsn(): Lsn { return this.#lastPutLsn; }
  get diskConsistentLsn(): Lsn { return this.#diskConsistentLsn; }
  get openLayerBytes(): number { return this.#layer.bytesHeld - this.#bytesAtLastFlush; }

  put(key: Key, lsn: Lsn, value: Value): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#layer.put(key, lsn, value);
    this.#lastPutLsn = lsn;
  }

  /** The ingest fast path (TimelineStore.putEncoded): forwards to the in-memory layer. */
  putEncoded(keyHigh: string, keyLow: number, lsn: Lsn, writer: ValueWriter): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#layer.putEncoded(keyHigh, keyLow, lsn, writer);
    this.#lastPutLsn = lsn;
  }

  /** The ingest fast path (TimelineStore.putReferenced): forwards to the open in-memory layer. */
  putReferenced(keyHigh: string, keyLow: number, lsn: Lsn, shape: number, hole: number, source: Uint8Array, start: number, length: number): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#layer.putReferenced(keyHigh, keyLow, lsn, shape, hole, source, start, length);
    this.#lastPutLsn = lsn;
  }

  getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    assert(!this.#closed, 'read after close');
    return this.#layerMap.getReconstructData(key, lsn);
  }

  keysInRange(start: Key, end: Key, lsn: Lsn): Promise<Key[]> {
    assert(start <= end, 'key range start must not exceed its end');
    return this.#layerMap.keysInRange(start, end, lsn);
  }

  flush(upToLsn: Lsn): Promise<Lsn> {
    assert(!this.#closed, 'flush after close');
    assert(upToLsn >= this.#layer.lsnMax, 'flush covers every value put so far');
    this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, upToLsn);
    this.#bytesAtLastFlush = this.#layer.bytesHeld;
    return Promise.resolve(this.#diskConsistentLsn);
  }

  /** Same contract as LayeredTimelineStore.importImages (sorted keys, lsn ≥ lastPutLsn). */
  async importImages(lsn: Lsn, entries: ImageEntries): Promise<{ files: number; entries: number }> {
    assert(lsn >= this.#lastPutLsn, 'import LSN must not be below values already put');
    let count = 0;
    let previous: Key | undefined;
    for await (const [key, bytes] of entries) {
      assert(previous === undefined || key > previous, 'image entries must arrive in strictly ascending key order');
      previous = key;
      this.#layer.put(key, lsn, { kind: 'image', bytes });
      count++;
    }
    this.#lastPutLsn = Math.max(this.#lastPutLsn, lsn);
    await this.flush(this.#lastPutLsn);
    return { files: 0, entries: count };
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
