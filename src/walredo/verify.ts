/**
 * Redo verification against PostgreSQL's own oracle: the check `wal_consistency_checking` makes
 * during recovery (xlogrecovery.c verifyBackupPageConsistency), done by Strata's redo.
 *
 * WHY: with `wal_consistency_checking = all`, PostgreSQL writes, for every page a record touches,
 * a full image of the page as it is AFTER the change (a block with an image but without
 * BKPIMAGE_APPLY). So for every record and block: the page before is the latest image of that
 * block seen so far; our redo applied to it must give the record's image, once both are masked
 * the way rm_mask masks them (hint bits, free space, LSN...). That proves each record type's
 * redo byte for byte on real WAL, without running PostgreSQL's redo.
 *
 * Per block reference of each record, in WAL order:
 *   (a) image with BKPIMAGE_APPLY   -> the state becomes that image ('restored').
 *   (b) consistency image           -> when the state is known (or the block is will-init): copy
 *       it, redo, mask both, compare ('checked' / mismatch / 'unsupported' / 'failed'); then the
 *       state becomes the image (the truth), so one error never cascades ('noBase' when unknown).
 *   (c) no image                    -> when the state is known, redo advances it ('unchecked');
 *       if that redo fails, the state is dropped (counted as unsupported / failed).
 *
 * Memory is bounded: at most `pagesMax` page states are kept (least recently used evicted and
 * counted), at most `samplesMax` mismatches and failures are kept in full; records are read in
 * batches and never retained (their bytes are views of the reader's chunks).
 */
import { assert } from '../assert.js';
import { isStrataError } from '../errors.js';
import { formatLsn, type Lsn } from '../lsn.js';
import { recordTypeName } from '../wal/record-names.js';
import { readWalFileBatches } from '../wal/segment-reader.js';
import { FORK_NAMES, RMGR_NAMES, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import { decodeBlockImage } from '../wal/xlog-record.js';
import { maskPage } from './masks.js';
import { BLCKSZ } from './page.js';
import { redoBlock } from './redo.js';

/** Default bound on page states held: 16384 pages of 8 KiB = 128 MiB. */
export const VERIFY_PAGES_MAX_DEFAULT = 16384;
/** Default bound on mismatches and failures reported in full. */
export const VERIFY_SAMPLES_MAX_DEFAULT = 100;

export interface VerifyOptions {
  startLsn?: Lsn;
  endLsn?: Lsn;
  /** Only records of these resource managers are checked; others only carry page states along. */
  rmgrs?: Set<number>;
  pagesMax?: number;
  samplesMax?: number;
}

/** Counts of one record type (e.g. 'Heap/INSERT'). */
export interface RecordTypeCounts {
  readonly name: string;
  readonly rmgrId: number;
  records: number;
  checked: number;
  mismatches: number;
  unsupported: number;
  failed: number;
  restored: number;
  unchecked: number;
  /** Consistency images whose previous state was unknown (nothing to compare). */
  noBase: number;
}

export interface BlockLocation {
  readonly lsn: Lsn;
  readonly recordType: string;
  readonly blockId: number;
  /** spc/db/rel */
  readonly rel: string;
  readonly fork: string;
  readonly blockNumber: number;
}

export interface VerifyMismatch extends BlockLocation {
  /** First differing byte after masking, and the bytes there: PostgreSQL's image and our redo's. */
  readonly offset: number;
  readonly expectedByte: number;
  readonly actualByte: number;
  readonly differingBytes: number;
}

export interface VerifyFailure extends BlockLocation {
  readonly code: 'PS_ERR_REDO_UNSUPPORTED' | 'PS_ERR_REDO_FAILED';
  readonly message: string;
  /** True when the failing redo was advancing a state without an image to compare (case c). */
  readonly unchecked: boolean;
}

export interface VerifyReport {
  startLsn: Lsn | undefined;
  endLsn: Lsn | undefined;
  records: number;
  /** Records of resource managers outside `rmgrs` (carried along, not checked). */
  recordsSkipped: number;
  checked: number;
  mismatches: number;
  unsupported: number;
  failed: number;
  evictions: number;
  /** Per record type, in order of first appearance. */
  types: RecordTypeCounts[];
  /** The first `samplesMax` mismatches and PS_ERR_REDO_FAILED failures. */
  mismatchSamples: VerifyMismatch[];
  failureSamples: VerifyFailure[];
}

type Outcome = 'checked' | 'mismatch' | 'unsupported' | 'failed' | 'restored' | 'unchecked' | 'noBase' | 'none';

/** Keeps the latest known page of each block and checks records against their images. */
export class RedoVerifier {
  private readonly pagesMax: number;
  private readonly samplesMax: number;
  private readonly rmgrs: Set<number> | undefined;
  /** Block key -> latest page; Map order is recency (a touched key is re-inserted last). */
  private readonly pages = new Map<string, Uint8Array>();
  private readonly typeCounts = new Map<number, RecordTypeCounts>();
  private readonly replay = new Uint8Array(BLCKSZ);
  private readonly expected = new Uint8Array(BLCKSZ);
  private readonly replayBuffer = Buffer.from(this.replay.buffer, this.replay.byteOffset, BLCKSZ);
  private readonly expectedBuffer = Buffer.from(this.expected.buffer, this.expected.byteOffset, BLCKSZ);
  private readonly result: VerifyReport;
  private lastLsn: Lsn = -1;

  constructor(options: VerifyOptions = {}) {
    this.pagesMax = options.pagesMax ?? VERIFY_PAGES_MAX_DEFAULT;
    this.samplesMax = options.samplesMax ?? VERIFY_SAMPLES_MAX_DEFAULT;
    assert(Number.isInteger(this.pagesMax) && this.pagesMax >= 1, 'pagesMax must be a positive integer');
    assert(Number.isInteger(this.samplesMax) && this.samplesMax >= 0, 'samplesMax must be a non-negative integer');
    this.rmgrs = options.rmgrs;
    this.result = {
      startLsn: options.startLsn, endLsn: options.endLsn, records: 0, recordsSkipped: 0, checked: 0, mismatches: 0,
      unsupported: 0, failed: 0, evictions: 0, types: [], mismatchSamples: [], failureSamples: [],
    };
  }

  /** Number of page states currently held (at most pagesMax). */
  get pagesHeld(): number {
    return this.pages.size;
  }

  /** Processes records in WAL order; they are not retained. */
  add(records: readonly DecodedRecord[]): void {
    for (const record of records) {
      assert(record.lsn > this.lastLsn, 'records must be added in LSN order');
      this.lastLsn = record.lsn;
      this.result.records++;
      if (this.rmgrs !== undefined && !this.rmgrs.has(record.rmgrId)) {
        this.result.recordsSkipped++;
        this.carryAlong(record);
        continue;
      }
      const counts = this.countsOf(record);
      counts.records++;
      for (const block of record.blocks) this.count(counts, this.verifyBlock(record, block, counts.name));
    }
  }

  /** The report so far (a snapshot: later `add` calls do not change it). */
  report(): VerifyReport {
    const types = [...this.typeCounts.values()].map((counts) => ({ ...counts }));
    return { ...this.result, types, mismatchSamples: [...this.result.mismatchSamples], failureSamples: [...this.result.failureSamples] };
  }

  private countsOf(record: DecodedRecord): RecordTypeCounts {
    const key = record.rmgrId * 256 + (record.info & 0xf0);
    let counts = this.typeCounts.get(key);
    if (counts === undefined) {
      const name = `${RMGR_NAMES[record.rmgrId] ?? `rmgr${record.rmgrId}`}/${recordTypeName(record.rmgrId, record.info)}`;
      counts = { name, rmgrId: record.rmgrId, records: 0, checked: 0, mismatches: 0, unsupported: 0, failed: 0, restored: 0, unchecked: 0, noBase: 0 };
      this.typeCounts.set(key, counts);
    }
    return counts;
  }

  private count(counts: RecordTypeCounts, outcome: Outcome): void {
    switch (outcome) {
      case 'checked': counts.checked++; this.result.checked++; break;
      case 'mismatch': counts.checked++; counts.mismatches++; this.result.checked++; this.result.mismatches++; break;
      case 'unsupported': counts.unsupported++; this.result.unsupported++; break;
      case 'failed': counts.failed++; this.result.failed++; break;
      case 'restored': counts.restored++; break;
      case 'unchecked': counts.unchecked++; break;
      case 'noBase': counts.noBase++; break;
      case 'none': break;
    }
  }

  /** A record not checked still moves its pages: an image is the new truth, otherwise the state is lost. */
  private carryAlong(record: DecodedRecord): void {
    for (const block of record.blocks) {
      const key = blockKey(block);
      if (block.hasImage) decodeBlockImage(block, this.pageFor(key));
      else this.pages.delete(key);
    }
  }

  private verifyBlock(record: DecodedRecord, block: DecodedBlock, recordType: string): Outcome {
    const key = blockKey(block);
    if (block.hasImage && block.applyImage) {
      const outcome = this.tryRedo(this.pageFor(key), record, block, recordType, false);
      if (outcome !== 'checked') this.pages.delete(key);
      return outcome === 'checked' ? 'restored' : outcome;
    }
    const state = this.touch(key);
    if (block.hasImage) return this.checkAgainstImage(record, block, recordType, state, key);
    if (state === undefined) return 'none';
    const outcome = this.tryRedo(state, record, block, recordType, true);
    if (outcome !== 'checked') this.pages.delete(key);
    return outcome === 'checked' ? 'unchecked' : outcome;
  }

  /** Case (b): redo from the known state, compare masked pages, then adopt the image. */
  private checkAgainstImage(record: DecodedRecord, block: DecodedBlock, recordType: string, state: Uint8Array | undefined, key: string): Outcome {
    if (state === undefined && !block.willInit) {
      decodeBlockImage(block, this.pageFor(key));
      return 'noBase';
    }
    if (state === undefined) this.replay.fill(0);
    else this.replay.set(state);
    const outcome = this.tryRedo(this.replay, record, block, recordType, false);
    const truth = state ?? this.pageFor(key);
    decodeBlockImage(block, truth);
    if (outcome !== 'checked') return outcome;
    this.expected.set(truth);
    maskPage(record.rmgrId, this.expected, block.blockNumber);
    maskPage(record.rmgrId, this.replay, block.blockNumber);
    if (this.replayBuffer.equals(this.expectedBuffer)) return 'checked';
    this.recordMismatch(record, block, recordType);
    return 'mismatch';
  }

  private tryRedo(page: Uint8Array, record: DecodedRecord, block: DecodedBlock, recordType: string, unchecked: boolean): Outcome {
    try {
      redoBlock(page, record, block.blockId);
      return 'checked';
    } catch (error) {
      if (!isStrataError(error) || (error.code !== 'PS_ERR_REDO_UNSUPPORTED' && error.code !== 'PS_ERR_REDO_FAILED')) throw error;
      // Unsupported record types show in the per-type counts; only real failures are kept in full.
      if (error.code === 'PS_ERR_REDO_FAILED' && this.result.failureSamples.length < this.samplesMax) {
        this.result.failureSamples.push({ ...locate(record, block, recordType), code: error.code, message: error.message, unchecked });
      }
      return error.code === 'PS_ERR_REDO_UNSUPPORTED' ? 'unsupported' : 'failed';
    }
  }

  private recordMismatch(record: DecodedRecord, block: DecodedBlock, recordType: string): void {
    if (this.result.mismatchSamples.length >= this.samplesMax) return;
    let first = -1;
    let differing = 0;
    for (let offset = 0; offset < BLCKSZ; offset++) {
      if (this.replay[offset] === this.expected[offset]) continue;
      if (first < 0) first = offset;
      differing++;
    }
    assert(first >= 0, 'a mismatch has a differing byte');
    this.result.mismatchSamples.push({
      ...locate(record, block, recordType), offset: first, expectedByte: this.expected[first]!, actualByte: this.replay[first]!,
      differingBytes: differing,
    });
  }

  /** The state of `key`, marked most recently used; undefined when unknown. */
  private touch(key: string): Uint8Array | undefined {
    const page = this.pages.get(key);
    if (page === undefined) return undefined;
    this.pages.delete(key);
    this.pages.set(key, page);
    return page;
  }

  /** The page buffer for `key` (existing, recycled from the least recently used, or new). */
  private pageFor(key: string): Uint8Array {
    const existing = this.touch(key);
    if (existing !== undefined) return existing;
    let page: Uint8Array | undefined;
    if (this.pages.size >= this.pagesMax) {
      const oldest = this.pages.keys().next().value as string;
      page = this.pages.get(oldest);
      this.pages.delete(oldest);
      this.result.evictions++;
    }
    page ??= new Uint8Array(BLCKSZ);
    this.pages.set(key, page);
    assert(this.pages.size <= this.pagesMax, 'page states stay bounded');
    return page;
  }
}

function blockKey(block: DecodedBlock): string {
  const rel = block.rel;
  return `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${block.forkNumber}/${block.blockNumber}`;
}

function locate(record: DecodedRecord, block: DecodedBlock, recordType: string): BlockLocation {
  const rel = block.rel;
  return {
    lsn: record.lsn, recordType, blockId: block.blockId, rel: `${rel.spcNode}/${rel.dbNode}/${rel.relNode}`,
    fork: FORK_NAMES[block.forkNumber] ?? String(block.forkNumber), blockNumber: block.blockNumber,
  };
}

/** Reads WAL segment files in batches and verifies every record between startLsn and endLsn. */
export async function verifyWalFiles(paths: string[], options: VerifyOptions = {}): Promise<VerifyReport> {
  assert(paths.length > 0, 'verifyWalFiles needs files');
  const verifier = new RedoVerifier(options);
  const readOptions: { startLsn?: Lsn; endLsn?: Lsn } = {};
  if (options.startLsn !== undefined) readOptions.startLsn = options.startLsn;
  if (options.endLsn !== undefined) readOptions.endLsn = options.endLsn;
  for await (const batch of readWalFileBatches(paths, readOptions)) verifier.add(batch);
  return verifier.report();
}

/** True when the report shows no mismatch, no failure and (unless allowed) nothing unsupported. */
export function verifyPassed(report: VerifyReport, options: { allowUnsupported?: boolean } = {}): boolean {
  if (report.mismatches > 0 || report.failed > 0) return false;
  return options.allowUnsupported === true || report.unsupported === 0;
}

/** One line per record type, totals, then each mismatch and failure kept. */
export function format(report: VerifyReport): string {
  const lines: string[] = [];
  for (const counts of report.types) {
    lines.push(`${counts.name} checked=${counts.checked} mismatches=${counts.mismatches} unsupported=${counts.unsupported} `
      + `failed=${counts.failed} records=${counts.records} restored=${counts.restored} unchecked=${counts.unchecked} `
      + `nobase=${counts.noBase}`);
  }
  lines.push(`total records=${report.records} skipped=${report.recordsSkipped} checked=${report.checked} `
    + `mismatches=${report.mismatches} unsupported=${report.unsupported} failed=${report.failed} evictions=${report.evictions}`);
  for (const mismatch of report.mismatchSamples) {
    lines.push(`MISMATCH ${where(mismatch)}: first difference at byte ${mismatch.offset}: `
      + `postgres 0x${hex(mismatch.expectedByte)} strata 0x${hex(mismatch.actualByte)} (${mismatch.differingBytes} bytes differ)`);
  }
  for (const failure of report.failureSamples) {
    lines.push(`${failure.code === 'PS_ERR_REDO_FAILED' ? 'FAILED' : 'UNSUPPORTED'} ${where(failure)}${failure.unchecked ? ' (unchecked)' : ''}: ${failure.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function where(location: BlockLocation): string {
  return `${formatLsn(location.lsn)} ${location.recordType} blkref #${location.blockId} rel ${location.rel} fork ${location.fork} blk ${location.blockNumber}`;
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}
