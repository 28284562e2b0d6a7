/**
 * Bounds the memory that layer file indexes take (48 bytes per version: a 50 GB timeline's
 * images alone would keep ~300 MB of indexes resident forever).
 *
 * Each LayerFileReader keeps its index only while the cache admits it; the least recently used
 * indexes are dropped when the budget is exceeded and read back (checked against the footer's
 * CRC) on the next search that needs them. An index in use by an async operation (a compaction
 * scan, a search waiting for its own load) is pinned and never dropped. The cache only decides;
 * readers own their buffers.
 */
import { assert } from '../assert.js';

export interface IndexHolder {
  /** Bytes of the resident index. */
  readonly indexBytes: number;
  readonly indexPinned: boolean;
  /** Drops the resident index (the cache decided); the holder reads it back when needed. */
  dropIndex(): void;
}

export class LayerIndexCache {
  readonly budgetBytes: number;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<IndexHolder, number>();
  #used = 0;
  #drops = 0;

  constructor(budgetBytes: number) {
    assert(budgetBytes > 0, 'an index cache has a positive budget');
    this.budgetBytes = budgetBytes;
  }

  get usedBytes(): number { return this.#used; }
  get residentCount(): number { return this.#entries.size; }
  /** Indexes dropped to stay within the budget, since creation. */
  get drops(): number { return this.#drops; }

  /** A holder's index became resident: it is the most recently used; others may be dropped. */
  admit(holder: IndexHolder): void {
    this.remove(holder);
    this.#entries.set(holder, holder.indexBytes);
    this.#used += holder.indexBytes;
    this.#trim(holder);
  }

  touch(holder: IndexHolder): void {
    const bytes = this.#entries.get(holder);
    if (bytes === undefined) return;
    this.#entries.delete(holder);
    this.#entries.set(holder, bytes);
  }

  remove(holder: IndexHolder): void {
    const bytes = this.#entries.get(holder);
    if (bytes === undefined) return;
    this.#entries.delete(holder);
    this.#used -= bytes;
  }

  /** Drops least recently used unpinned indexes (never `keep`) until the budget holds. */
  #trim(keep: IndexHolder): void {
    if (this.#used <= this.budgetBytes) return;
    for (const [holder, bytes] of this.#entries) {
      if (this.#used <= this.budgetBytes) return;
      if (holder === keep || holder.indexPinned) continue;
      this.#entries.delete(holder);
      this.#used -= bytes;
      this.#drops++;
      holder.dropIndex();
    }
  }
}
