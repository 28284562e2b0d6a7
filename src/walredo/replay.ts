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

/** Pages of one relation: by blockNumber * 4 + fork (exact: block numbers are below 2^32). */
type RelationPages = Map<number, Uint8Array>;

export class PageReplayer {
  readonly #partition: number;
  readonly #partitions: number;
  readonly #pagesMax: number;
  /** Pages by relation ("spc/db/rel") then block and fork; WHY two levels: no string per block. */
  readonly #relations = new Map<string, RelationPages>();
  /** The relation map of the last RelFileNode object seen (consecutive blocks share it). */
  #lastRel: object | undefined;
  #lastRelationPages: RelationPages | undefined;
  #pageCount = 0;
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
    const name = `${rel.spcNode}/${rel.dbNode}/${rel.relNode}`;
    let pages = this.#relations.get(name);
    if (pages === undefined) {
      pages = new Map();
      this.#relations.set(name, pages);
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
      page = new Uint8Array(BLCKSZ);
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
        if (pages.delete(key)) this.#pageCount -= 1;
        return;
      }
      this.stats.failed += 1;
      this.stats.firstFailure ??= error instanceof Error ? error.message : String(error);
      if (pages.delete(key)) this.#pageCount -= 1;
    }
  }
}
