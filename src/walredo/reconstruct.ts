/**
 * GetPage@LSN's last step: a page from its ReconstructData (the newest image at or below the LSN
 * and the values after it, value.ts). PostgreSQL WAL records go through the redo
 * dispatcher (redo.ts), Strata records through strata-records.ts; without an image the page starts
 * as zeros (the oldest value initializes it).
 *
 * Pure and synchronous: it runs on the walredo worker threads (workers/walredo-thread.ts, through
 * IndexedBatchRedo on the packed batch) and in tests. Errors are StrataErrors naming the key and
 * the value's LSN.
 */
import { isStrataError, StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import type { ReconstructData, StrataRecord } from '../value.js';
import { PackedRecordsBuilder } from '../wal/packed-records.js';
import { decodeXLogRecord, decodeXLogRecordPacked, PackedRecordView } from '../wal/xlog-record.js';
import { BLCKSZ } from './page.js';
import { JobField, RecordField as BatchRecordField, REDO_RECORD_WAL, type RedoBatchIndex } from './redo-batch-codec.js';
import { redoBlock } from './redo.js';
import { applyStrataRecord } from './strata-records.js';

/** Builds the page of `key` from `data` into `target` (BLCKSZ bytes; a new page when omitted). */
export function reconstructPage(key: string, data: ReconstructData, target?: Uint8Array): Uint8Array {
  const page = target ?? new Uint8Array(BLCKSZ);
  startPage(page, data.image?.bytes, data.image?.lsn ?? 0, () => key);
  for (const { lsn, value } of data.records) {
    try {
      if (value.kind === 'walRecord') {
        // The value is stored at the record's end LSN; its start is not kept (messages only).
        const record = decodeXLogRecord(value.record, lsn, lsn);
        redoBlock(page, record, value.blockId);
      } else {
        applyStrataRecord(page, value.record, lsn);
      }
    } catch (error) {
      throw namedFailure(key, lsn, error);
    }
  }
  return page;
}

/**
 * The page before its first value: `image` (of the LSN `imageLsn`), or zeros without one. `key`
 * is called only to name the page in an error.
 */
function startPage(page: Uint8Array, image: Uint8Array | undefined, imageLsn: number, key: () => string): void {
  if (page.length !== BLCKSZ) throw new StrataError('PS_ERR_REDO_FAILED', `a page is ${BLCKSZ} bytes, got ${page.length}`);
  if (image === undefined) {
    page.fill(0);
    return;
  }
  if (image.length !== BLCKSZ) {
    const name = key();
    throw new StrataError('PS_ERR_REDO_FAILED', `image of ${name} at ${formatLsn(imageLsn)} is ${image.length} bytes, not a page`, { key: name });
  }
  page.set(image);
}

/** `error` of the value at `lsn` of `key`'s page, as a StrataError naming both. */
function namedFailure(key: string, lsn: number, error: unknown): StrataError {
  if (isStrataError(error)) {
    return new StrataError(error.code, `${key} at ${formatLsn(lsn)}: ${error.message}`, { ...error.context, key, value_lsn: formatLsn(lsn) }, { cause: error });
  }
  return new StrataError('PS_ERR_REDO_FAILED', `${key} at ${formatLsn(lsn)}: ${error instanceof Error ? error.message : String(error)}`, { key }, { cause: error });
}

/**
 * reconstructPage for the jobs of an indexed batch (redo-batch-codec.ts RedoBatchIndex over the
 * batch buffer): the same pages and the same errors, without an object per record. `prepare`
 * decodes every WAL record of the batch once, straight from the batch buffer into reused columns
 * (PackedRecordsBuilder), and `reconstruct` applies a job's records through one record view.
 * One instance per walredo worker, reused from batch to batch; its columns keep the size of the
 * largest batch seen, as the pool's batch buffers do (walredo-pool.ts). WHY: on GetPage chains
 * of 200 records, the per-record objects (a subarray and two objects from the batch, then a
 * decoded record and its blocks) and their GC were about a fifth of the worker's time; and one
 * decoding pass per batch, not per job, keeps one-record chains as cheap as before.
 *
 * A record that cannot be decoded fails its job (before any of the job's records is applied,
 * where reconstructPage would have applied those before it: the job fails either way, and its
 * page is not returned); the other jobs go on.
 */
export class IndexedBatchRedo {
  readonly #builder = new PackedRecordsBuilder();
  readonly #view = new PackedRecordView();
  /** Per record of the batch: its index among the decoded WAL records (-1: not a WAL record). */
  #decodedIndex = new Int32Array(1024);
  readonly #failures: (StrataError | undefined)[] = [];
  #batch: RedoBatchIndex | undefined;

  /** Decodes the WAL records of `batch` (read over `source`); call before `reconstruct`. */
  prepare(batch: RedoBatchIndex, source: Uint8Array): void {
    const builder = this.#builder;
    builder.clear();
    this.#failures.length = 0;
    if (this.#decodedIndex.length < batch.recordCount) this.#decodedIndex = new Int32Array(Math.max(batch.recordCount, this.#decodedIndex.length * 2));
    const decodedIndex = this.#decodedIndex;
    for (let job = 0; job < batch.jobCount; job++) {
      const first = batch.jobField(job, JobField.FirstRecord);
      const end = first + batch.jobField(job, JobField.RecordCount);
      for (let record = first; record < end; record++) {
        decodedIndex[record] = -1;
        if (batch.recordField(record, BatchRecordField.Kind) !== REDO_RECORD_WAL || this.#failures[job] !== undefined) continue;
        const lsn = batch.recordLsn[record]!;
        try {
          // Throws before adding anything when the record is malformed: the columns stay whole.
          decodeXLogRecordPacked(source, lsn, lsn, batch.recordField(record, BatchRecordField.At), batch.recordField(record, BatchRecordField.Length), builder);
          decodedIndex[record] = builder.count - 1;
        } catch (error) {
          this.#failures[job] = namedFailure(batch.key(source, job), lsn, error);
        }
      }
    }
    if (builder.count > 0) this.#view.reset(builder.current());
    this.#batch = batch;
  }

  /** Builds job `job`'s page into `target` (BLCKSZ bytes); returns the records applied. */
  reconstruct(job: number, source: Uint8Array, strataRecords: readonly StrataRecord[], target: Uint8Array): number {
    const batch = this.#batch;
    if (batch === undefined || job >= batch.jobCount) throw new StrataError('PS_ERR_REDO_FAILED', `job ${job} of a batch that was not prepared`);
    const failure = this.#failures[job];
    if (failure !== undefined) throw failure;
    const imageAt = batch.jobField(job, JobField.ImageAt);
    const image = imageAt < 0 ? undefined : source.subarray(imageAt, imageAt + batch.jobField(job, JobField.ImageLength));
    startPage(target, image, batch.imageLsn[job]!, () => batch.key(source, job));
    const first = batch.jobField(job, JobField.FirstRecord);
    const end = first + batch.jobField(job, JobField.RecordCount);
    const view = this.#view;
    const decodedIndex = this.#decodedIndex;
    for (let record = first; record < end; record++) {
      try {
        if (batch.recordField(record, BatchRecordField.Kind) === REDO_RECORD_WAL) {
          redoBlock(target, view.moveTo(decodedIndex[record]!), batch.recordField(record, BatchRecordField.BlockId));
        } else {
          applyStrataRecord(target, strataRecords[batch.recordField(record, BatchRecordField.At)]!, batch.recordLsn[record]!);
        }
      } catch (error) {
        throw namedFailure(batch.key(source, job), batch.recordLsn[record]!, error);
      }
    }
    return end - first;
  }
}
