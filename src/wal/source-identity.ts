/**
 * One JS object per decoder buffer on the receiving side of a decode session, although every
 * message brings its own.
 *
 * WHY: PackedRecords carry the WAL decoder's SharedArrayBuffers (`sources`) from the decode thread
 * to the ingest thread. Structured clone makes a NEW SharedArrayBuffer object for every message,
 * even for the same memory, and the decoder fills one 256 KiB buffer with many XLogData messages.
 * The in-memory layer registers a referenced value's buffer by object identity and charges its
 * whole size once (in-memory-layer.ts putReferenced), so each message charged the same buffer
 * again: measured with 4 KiB messages (pgbench with synchronous_commit = on), 965 messages of
 * 3.95 MB of WAL charged 253 MB, 64× the WAL and the real memory; the open layer reached
 * checkpoint_distance (256 MiB) after ~4 MB of WAL and was flushed every ~0.7 s.
 *
 *   decode thread                                  receiving thread
 *   SourceIdAssigner: buffer object → id ──ids──►  SourceCanonicalizer: id → the first object
 *   (WeakMap; ids count up per session)            received for it (LRU of SOURCES_KEPT_MAX)
 *
 * A session's decoder uses its buffers in order (the current buffer, the current slab, a record's
 * own buffer) and never comes back to one it has left, so a handful of recent ids is enough. A
 * miss (an id evicted too early) only costs a second registration of the same memory, which
 * over-counts; it can never make a value point at the wrong bytes, because ids are never reused
 * within a session and a session's canonicalizer is its own.
 */
import { assert } from '../assert.js';

/** Ids remembered per session: buffers a batch may still name (current buffer, slab, spares). */
export const SOURCES_KEPT_MAX = 16;

/** Decode-thread side: a stable number for each buffer object of one session. */
export class SourceIdAssigner {
  readonly #ids = new WeakMap<ArrayBufferLike, number>();
  #next = 1;

  idsOf(sources: readonly ArrayBufferLike[]): number[] {
    return sources.map((source) => {
      let id = this.#ids.get(source);
      if (id === undefined) {
        id = this.#next++;
        this.#ids.set(source, id);
      }
      return id;
    });
  }
}

/** Receiving side: maps each id to the object first received for it (bounded, least recent out). */
export class SourceCanonicalizer {
  /** Insertion order is recency order: a hit is deleted and set again. */
  readonly #byId = new Map<number, ArrayBufferLike>();

  get size(): number { return this.#byId.size; }

  /**
   * The canonical objects for `sources` (same order). Returns undefined when an id is already
   * known with a different size: the ids are not what this side was promised.
   */
  canonical(sources: readonly ArrayBufferLike[], ids: readonly number[]): ArrayBufferLike[] | undefined {
    assert(sources.length === ids.length, 'one id per source');
    const result = new Array<ArrayBufferLike>(sources.length);
    for (let index = 0; index < sources.length; index++) {
      const id = ids[index]!;
      const source = sources[index]!;
      const known = this.#byId.get(id);
      if (known !== undefined && known.byteLength !== source.byteLength) return undefined;
      const kept = known ?? source;
      this.#byId.delete(id);
      this.#byId.set(id, kept);
      result[index] = kept;
    }
    while (this.#byId.size > SOURCES_KEPT_MAX) this.#byId.delete(this.#byId.keys().next().value!);
    return result;
  }
}
