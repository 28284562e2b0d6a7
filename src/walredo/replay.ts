/**
 * PostgreSQL's recovery loop run with Strata's redo: records in LSN order, each applied to the
 * pages it references (full-page images restored, everything else through redo.ts), pages kept
 * in memory. It measures redo throughput on real WAL (bench/walredo, `strata bench redo`), and
 * since each replayer may own only a share of the pages (`partition` of `partitions`, by a hash
 * of the block), several replayers on several threads replay one WAL stream together: a record
 * that touches pages of two shares is applied by both, each to its own pages, as redo works per
 * page anyway (types.ts).
 *
 * A page first met without an image and without will-init has no known base (WAL from before the
 * start is not replayed): such blocks are counted and skipped, as are records whose redo Strata
 * does not implement (counted per rmgr); anything else that fails is counted as failed.
 */
import { isStrataError } from '../errors.js';
import { RMGR_NAMES, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import { BLCKSZ } from './page.js';
import { redoBlock } from './redo.js';

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
}

function blockHash(block: DecodedBlock): number {
  const rel = block.rel;
  let hash = (rel.relNode * 31 + rel.dbNode) | 0;
  hash = (hash * 31 + block.forkNumber) | 0;
  hash = (hash * 31 + block.blockNumber) | 0;
  return (hash ^ (hash >>> 15)) >>> 0;
}

/** Pages are carved from slabs of this many pages: one ArrayBuffer per slab, not per page. */
const PAGES_PER_SLAB = 256;

/** Pages of one relation: by blockNumber * 4 + fork (exact: block numbers are below 2^32). */
type RelationPages = Map<number, Uint8Array>;

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
  /**
   * The current slab and the next free page in it. WHY slabs: a page of its own ArrayBuffer costs
   * a zeroed allocation and external-memory accounting (which drives GC) per page; replay meets
   * hundreds of thousands of pages.
   */
  #slab: ArrayBuffer | undefined;
  #slabNext = PAGES_PER_SLAB;
  /** Pages forgotten after a failure, reused before carving new ones. */
  readonly #freePages: Uint8Array[] = [];
  readonly stats: ReplayStats = {
    records: 0, pages: 0, restored: 0, redone: 0, alreadyApplied: 0, noBase: 0, unsupported: {}, failed: 0, firstFailure: undefined, pagesHeld: 0,
  };

  constructor(options: ReplayerOptions = {}) {
    this.#partition = options.partition ?? 0;
    this.#partitions = options.partitions ?? 1;
    this.#pagesMax = options.pagesMax ?? 1_000_000;
  }

  /** Applies one record to the pages of this replayer's share. */
  apply(record: DecodedRecord): void {
    this.stats.records += 1;
    const blocks = record.blocks;
    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!;
      if (this.#partitions > 1 && blockHash(block) % this.#partitions !== this.#partition) continue;
      this.#applyBlock(record, block);
    }
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
      pages = new Map();
      candidates.push({ spcNode: rel.spcNode, dbNode: rel.dbNode, pages });
    }
    this.#lastRel = rel;
    this.#lastRelationPages = pages;
    return pages;
  }

  #applyBlock(record: DecodedRecord, block: DecodedBlock): void {
    const pages = this.#relationPages(block);
    const key = block.blockNumber * 4 + block.forkNumber;
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
      page = this.#newPage();
      pages.set(key, page);
      this.#pageCount += 1;
      this.stats.pagesHeld = this.#pageCount;
    }
    try {
      if (!redoBlock(page, record, block.blockId)) {
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

  /** A zeroed page of BLCKSZ bytes from the free list or the current slab. */
  #newPage(): Uint8Array {
    const reused = this.#freePages.pop();
    if (reused !== undefined) return reused.fill(0);
    if (this.#slab === undefined || this.#slabNext === PAGES_PER_SLAB) {
      this.#slab = new ArrayBuffer(BLCKSZ * PAGES_PER_SLAB);
      this.#slabNext = 0;
    }
    const page = new Uint8Array(this.#slab, this.#slabNext * BLCKSZ, BLCKSZ);
    this.#slabNext += 1;
    return page;
  }

  #forget(pages: RelationPages, key: number, page: Uint8Array): void {
    if (!pages.delete(key)) return;
    this.#pageCount -= 1;
    this.#freePages.push(page);
  }
}
