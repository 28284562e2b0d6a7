/**
 * PostgreSQL's recovery loop run with Strata's redo: records in LSN order, each applied to the
 * pages it references (full-page images restored, everything else through redo.ts), pages kept
 * in memory. It measures redo throughput on real WAL (bench/walredo, `strata bench redo`), and
 * since each replayer may own only a share of the pages (`partition` of `partitions`), several
 * replayers on several threads replay one WAL stream together: a record that touches pages of two
 * shares is applied by both, each to its own pages, as redo works per page anyway (types.ts).
 *
 * Which share a page belongs to is decided when the stream first names it: the share with the
 * least work so far (block references, images weighing more), ties to the lowest. Every replayer
 * sees the whole stream and runs the same rule on the same blocks in the same order, so all agree
 * on every page without talking to each other. WHY not a hash of the block: pgbench puts half of
 * its records on two pages (the branches' and tellers' first pages), and a hash put both in one
 * share in two WALs out of two (30/70 and 44/56 splits), so a second worker hardly helped.
 *
 * A page first met without an image and without will-init has no known base (WAL from before the
 * start is not replayed): such blocks are counted and skipped, as are records whose redo Strata
 * does not implement (counted per rmgr); anything else that fails is counted as failed.
 */
import { assert } from '../assert.js';
import { isStrataError } from '../errors.js';
import { RMGR_NAMES, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import { BLCKSZ } from './page.js';
import { redoBlockReference } from './redo.js';

export interface ReplayStats {
  records: number;
  /** Block references applied (image restored or redo done). */
  pages: number;
  restored: number;
  redone: number;
  /** Blocks whose page was already past the record (BLK_DONE). */
  alreadyApplied: number;
  noBase: number;
  unsupported: Record<string, number>;
  failed: number;
  firstFailure: string | undefined;
  pagesHeld: number;
}

export interface ReplayerOptions {
  partition?: number;
  partitions?: number;
  /** Pages kept at most; beyond it the replayer refuses new pages (counted as noBase). */
  pagesMax?: number;
  /** Where pages come from and go back to (release); default a pool of the replayer's own. */
  pool?: PagePool;
  /**
   * How much each share's work counts when pages are shared out (default 1 each): a share whose
   * thread also does other work (decoding the stream) counts more, so it is given fewer pages.
   * Every replayer of a stream must be given the same weights.
   */
  shareWeights?: readonly number[];
}

/** Work of restoring an image, in block references redone (an 8 KiB copy into a cold page). */
const IMAGE_WEIGHT = 3;

/** Pages are carved from slabs of this many pages: one ArrayBuffer per slab, not per page. */
const PAGES_PER_SLAB = 256;

/**
 * Page memory for replayers: pages carved from slabs, and pages given back kept for the next
 * replayer. WHY slabs: a page of its own ArrayBuffer costs a zeroed allocation and external-memory
 * accounting (which drives GC) per page; replay meets hundreds of thousands of pages. WHY a pool
 * that outlives a replayer: a replay worker runs one replay after another, and new memory is
 * expensive the first time it is touched (a page fault per 4 KiB: measured ~2.5 µs each here,
 * more than copying the 8 KiB image into it), so a replay reuses the pages of the previous one.
 * The pool holds at most the largest number of pages once in use together.
 */
export class PagePool {
  #slab: ArrayBuffer | undefined;
  #slabNext = PAGES_PER_SLAB;
  readonly #free: Uint8Array[] = [];

  /**
   * A page of BLCKSZ bytes whose contents are undefined (zero when new, the last user's bytes when
   * reused): the caller writes every byte, as an image restore or a will-init redo does. WHY not
   * zeroed: replay only creates a page to restore an image into or to initialize, and zeroing
   * tens of thousands of pages first was measurable (~3% of replay).
   */
  take(): Uint8Array {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#slab === undefined || this.#slabNext === PAGES_PER_SLAB) {
      this.#slab = new ArrayBuffer(BLCKSZ * PAGES_PER_SLAB);
      this.#slabNext = 0;
    }
    const page = new Uint8Array(this.#slab, this.#slabNext * BLCKSZ, BLCKSZ);
    this.#slabNext += 1;
    return page;
  }

  /** Takes back a page from `take` that its user no longer holds. */
  giveBack(page: Uint8Array): void {
    assert(page.length === BLCKSZ, 'a pool page is BLCKSZ bytes');
    this.#free.push(page);
  }

  /** Pages waiting to be taken again. */
  get freeCount(): number { return this.#free.length; }
}

/** Keys below this go into RelationPages' array (at most 8 MiB of slots per relation). */
const DENSE_KEYS_MAX = 1 << 20;

/**
 * Pages of one relation by blockNumber * 4 + fork (exact: block numbers are below 2^32): an array
 * indexed by key for the first 256k blocks, a Map beyond. WHY: finding the page is on every block
 * of every record, and a hash lookup in a table of tens of thousands of pages missed the cache
 * twice where an array slot misses once (the single largest line of the replay profile).
 */
class RelationPages {
  readonly #dense: (Uint8Array | undefined)[] = [];
  readonly #sparse = new Map<number, Uint8Array>();
  /** Share of each page seen, plus one (0: not seen yet); only kept with several shares. */
  #owners = new Uint8Array(0);
  readonly #sparseOwners = new Map<number, number>();

  /** The share page `key` was given, or -1 when the stream has not named it yet. */
  ownerOf(key: number): number {
    if (key >= DENSE_KEYS_MAX) return this.#sparseOwners.get(key) ?? -1;
    return key < this.#owners.length ? this.#owners[key]! - 1 : -1;
  }

  setOwner(key: number, partition: number): void {
    if (key >= DENSE_KEYS_MAX) {
      this.#sparseOwners.set(key, partition);
      return;
    }
    if (key >= this.#owners.length) {
      const grown = new Uint8Array(Math.min(DENSE_KEYS_MAX, Math.max(1024, this.#owners.length * 2, key + 1)));
      grown.set(this.#owners);
      this.#owners = grown;
    }
    this.#owners[key] = partition + 1;
  }

  get(key: number): Uint8Array | undefined {
    return key < DENSE_KEYS_MAX ? this.#dense[key] : this.#sparse.get(key);
  }

  set(key: number, page: Uint8Array): void {
    if (key >= DENSE_KEYS_MAX) {
      this.#sparse.set(key, page);
      return;
    }
    // Grown slot by slot so the array stays a plain packed one (no holes, no dictionary mode).
    while (this.#dense.length <= key) this.#dense.push(undefined);
    this.#dense[key] = page;
  }

  /** Removes the page at `key`; false when there was none. */
  delete(key: number): boolean {
    if (key >= DENSE_KEYS_MAX) return this.#sparse.delete(key);
    if (this.#dense[key] === undefined) return false;
    this.#dense[key] = undefined;
    return true;
  }

  *values(): IterableIterator<Uint8Array> {
    for (const page of this.#dense) if (page !== undefined) yield page;
    yield* this.#sparse.values();
  }
}

interface RelationEntry { readonly spcNode: number; readonly dbNode: number; readonly pages: RelationPages }

export class PageReplayer {
  readonly #partition: number;
  readonly #partitions: number;
  readonly #pagesMax: number;
  /**
   * Pages by relation (relNode, then spcNode and dbNode among the few sharing it) then block and
   * fork. WHY: no string per block, nor per change of relation.
   */
  readonly #relations = new Map<number, RelationEntry[]>();
  /** The relation map of the last RelFileNode object seen (consecutive blocks share it). */
  #lastRel: object | undefined;
  #lastRelationPages: RelationPages | undefined;
  #pageCount = 0;
  readonly #pool: PagePool;
  /** Work given to each share so far (see the header); the same in every replayer of a stream. */
  readonly #loads: Float64Array;
  readonly #weights: Float64Array;
  readonly stats: ReplayStats = {
    records: 0, pages: 0, restored: 0, redone: 0, alreadyApplied: 0, noBase: 0, unsupported: {}, failed: 0, firstFailure: undefined, pagesHeld: 0,
  };

  constructor(options: ReplayerOptions = {}) {
    this.#partition = options.partition ?? 0;
    this.#partitions = options.partitions ?? 1;
    this.#pagesMax = options.pagesMax ?? 1_000_000;
    this.#pool = options.pool ?? new PagePool();
    assert(Number.isInteger(this.#partitions) && this.#partitions >= 1 && this.#partitions <= 255, 'a replay has 1..255 shares');
    assert(Number.isInteger(this.#partition) && this.#partition >= 0 && this.#partition < this.#partitions, 'the share is one of the shares');
    this.#loads = new Float64Array(this.#partitions);
    this.#weights = new Float64Array(this.#partitions).fill(1);
    if (options.shareWeights !== undefined) {
      assert(options.shareWeights.length === this.#partitions && options.shareWeights.every((weight) => weight > 0), 'one positive weight per share');
      this.#weights.set(options.shareWeights);
    }
  }

  /** Gives every page back to the pool; the replayer holds nothing afterwards. */
  release(): void {
    for (const candidates of this.#relations.values()) {
      for (const candidate of candidates) for (const page of candidate.pages.values()) this.#pool.giveBack(page);
    }
    this.#relations.clear();
    this.#lastRel = undefined;
    this.#lastRelationPages = undefined;
    this.#pageCount = 0;
    this.#loads.fill(0);
    this.stats.pagesHeld = 0;
  }

  /** Applies one record to the pages of this replayer's share. */
  apply(record: DecodedRecord): void {
    this.stats.records += 1;
    const blocks = record.blocks;
    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!;
      const pages = this.#relationPages(block);
      const key = block.blockNumber * 4 + block.forkNumber;
      if (this.#partitions > 1 && this.#shareOf(block, pages, key) !== this.#partition) continue;
      this.#applyBlock(record, block, pages, key);
    }
  }

  /** The share of `block`'s page (`key` of `pages`), decided on first sight (see the header); counts its work. */
  #shareOf(block: DecodedBlock, pages: RelationPages, key: number): number {
    const loads = this.#loads;
    let owner = pages.ownerOf(key);
    if (owner < 0) {
      owner = 0;
      for (let share = 1; share < loads.length; share++) if (loads[share]! < loads[owner]!) owner = share;
      pages.setOwner(key, owner);
    }
    loads[owner] = loads[owner]! + (block.hasImage ? IMAGE_WEIGHT : 1) * this.#weights[owner]!;
    return owner;
  }

  #relationPages(block: DecodedBlock): RelationPages {
    const rel = block.rel;
    if (rel === this.#lastRel && this.#lastRelationPages !== undefined) return this.#lastRelationPages;
    let candidates = this.#relations.get(rel.relNode);
    if (candidates === undefined) {
      candidates = [];
      this.#relations.set(rel.relNode, candidates);
    }
    let pages: RelationPages | undefined;
    for (const candidate of candidates) {
      if (candidate.spcNode === rel.spcNode && candidate.dbNode === rel.dbNode) {
        pages = candidate.pages;
        break;
      }
    }
    if (pages === undefined) {
      pages = new RelationPages();
      candidates.push({ spcNode: rel.spcNode, dbNode: rel.dbNode, pages });
    }
    this.#lastRel = rel;
    this.#lastRelationPages = pages;
    return pages;
  }

  #applyBlock(record: DecodedRecord, block: DecodedBlock, pages: RelationPages, key: number): void {
    let page = pages.get(key);
    const restores = block.hasImage && block.applyImage;
    if (page === undefined) {
      if (!restores && !block.willInit) {
        this.stats.noBase += 1;
        return;
      }
      if (this.#pageCount >= this.#pagesMax) {
        this.stats.noBase += 1;
        return;
      }
      page = this.#pool.take(); // written in full below: restored from the image, or zeroed by will-init
      pages.set(key, page);
      this.#pageCount += 1;
      this.stats.pagesHeld = this.#pageCount;
    }
    try {
      if (!redoBlockReference(page, record, block)) {
        this.stats.alreadyApplied += 1;
        return;
      }
      this.stats.pages += 1;
      if (restores) this.stats.restored += 1;
      else this.stats.redone += 1;
    } catch (error) {
      if (isStrataError(error, 'PS_ERR_REDO_UNSUPPORTED')) {
        const name = RMGR_NAMES[record.rmgrId] ?? String(record.rmgrId);
        this.stats.unsupported[name] = (this.stats.unsupported[name] ?? 0) + 1;
        // The page's state is unknown from here on: forget it until an image comes.
        this.#forget(pages, key, page);
        return;
      }
      this.stats.failed += 1;
      this.stats.firstFailure ??= error instanceof Error ? error.message : String(error);
      this.#forget(pages, key, page);
    }
  }

  #forget(pages: RelationPages, key: number, page: Uint8Array): void {
    if (!pages.delete(key)) return;
    this.#pageCount -= 1;
    this.stats.pagesHeld = this.#pageCount;
    this.#pool.giveBack(page);
  }
}
