/**
 * The walredo pool's batch codec: the jobs of one batch (keys, base images, WAL records) packed
 * into one byte buffer, a SharedArrayBuffer the pool reuses, instead of objects posted to the
 * worker.
 *
 * WHY: posting ReconstructData objects costs a structured clone on each side. Every Uint8Array
 * becomes a new ArrayBuffer, and every object is walked. Profiled on GetPage-style chains (an
 * image and one record per page), that was 15% of the asking thread (serializing) and 28% of the
 * redo worker (deserializing), against 2% for the redo itself. Here the asking thread copies each
 * byte once into the shared buffer, and the worker reads the images and records in place through
 * views. Strata records (CLOG, multixact and VM changes: small objects, rare on GetPage) travel
 * beside the buffer as a list, each referred to by its index.
 *
 * Layout, little-endian, every part starting on an 8-byte boundary:
 *
 *   header (16)  magic u32 'SRB1' | version u16 | job count u16 | total length u32 | 0 u32
 *   per job:     key length u16 | has image u16 | record count u32 | image LSN f64 | image length u32 | 0 u32
 *                key (ASCII, padded) | image bytes (padded)
 *                per record: LSN f64 | kind u8 (0 WAL, 1 Strata) | will-init u8 | block id u8 | 0 u8
 *                            | length u32 (WAL) or index in the Strata list (Strata) | WAL bytes (padded)
 *
 * RedoBatchIndex.read (the walredo worker's reader; decodeRedoBatch builds job objects from it)
 * checks the magic, version, every length against the buffer and every Strata index against the
 * list: a malformed buffer is PS_ERR_REDO_FAILED, never an out-of-bounds view.
 */
import { StrataError } from '../errors.js';
import type { StrataRecord } from '../value.js';
import type { RedoJob } from './walredo-protocol.js';

const MAGIC = 0x31425253; // 'SRB1' as bytes
const VERSION = 1;
const HEADER_BYTES = 16;
const JOB_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const KIND_WAL = 0;
const KIND_STRATA = 1;

function padded(length: number): number {
  return (length + 7) & ~7;
}

/** Bytes encodeRedoBatch needs for `jobs`. */
export function encodedRedoBatchLength(jobs: readonly RedoJob[]): number {
  let length = HEADER_BYTES;
  for (const job of jobs) {
    length += JOB_HEADER_BYTES + padded(job.key.length);
    if (job.data.image !== undefined) length += padded(job.data.image.bytes.length);
    for (const { value } of job.data.records) {
      length += RECORD_HEADER_BYTES;
      if (value.kind === 'walRecord') length += padded(value.record.length);
    }
  }
  return length;
}

/**
 * Packs `jobs` into `target` (at least encodedRedoBatchLength bytes, 8-byte aligned); returns the
 * length written and the Strata records the encoding refers to.
 */
export function encodeRedoBatch(jobs: readonly RedoJob[], target: Uint8Array): { length: number; strataRecords: StrataRecord[] } {
  const length = encodedRedoBatchLength(jobs);
  if (jobs.length > 0xffff) throw new StrataError('PS_ERR_BAD_REQUEST', `a redo batch has at most 65535 jobs, got ${jobs.length}`);
  if (target.length < length) throw new StrataError('PS_ERR_BAD_REQUEST', `a redo batch of ${length} bytes does not fit ${target.length}`);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const strataRecords: StrataRecord[] = [];
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, jobs.length, true);
  view.setUint32(8, length, true);
  view.setUint32(12, 0, true);
  let at = HEADER_BYTES;
  for (const job of jobs) {
    const image = job.data.image;
    if (job.key.length > 0xffff) throw new StrataError('PS_ERR_BAD_REQUEST', 'a redo job key is too long');
    view.setUint16(at, job.key.length, true);
    view.setUint16(at + 2, image === undefined ? 0 : 1, true);
    view.setUint32(at + 4, job.data.records.length, true);
    view.setFloat64(at + 8, image === undefined ? 0 : image.lsn, true);
    view.setUint32(at + 16, image === undefined ? 0 : image.bytes.length, true);
    view.setUint32(at + 20, 0, true);
    at += JOB_HEADER_BYTES;
    for (let index = 0; index < job.key.length; index++) target[at + index] = job.key.charCodeAt(index) & 0x7f;
    at += padded(job.key.length);
    if (image !== undefined) {
      target.set(image.bytes, at);
      at += padded(image.bytes.length);
    }
    for (const { lsn, value } of job.data.records) {
      view.setFloat64(at, lsn, true);
      view.setUint8(at + 9, value.willInit ? 1 : 0);
      view.setUint8(at + 11, 0);
      if (value.kind === 'walRecord') {
        view.setUint8(at + 8, KIND_WAL);
        view.setUint8(at + 10, value.blockId);
        view.setUint32(at + 12, value.record.length, true);
        at += RECORD_HEADER_BYTES;
        target.set(value.record, at);
        at += padded(value.record.length);
      } else {
        view.setUint8(at + 8, KIND_STRATA);
        view.setUint8(at + 10, 0);
        view.setUint32(at + 12, strataRecords.length, true);
        strataRecords.push(value.record);
        at += RECORD_HEADER_BYTES;
      }
    }
  }
  return { length, strataRecords };
}

/**
 * A decoded job: its key is read from the batch only when asked for (error messages), as most
 * jobs never need it.
 */
class PackedRedoJob implements RedoJob {
  #key: string | undefined;
  constructor(
    private readonly source: Uint8Array,
    private readonly keyAt: number,
    private readonly keyLength: number,
    readonly data: RedoJob['data'],
  ) {}

  get key(): string {
    this.#key ??= keyString(this.source, this.keyAt, this.keyLength);
    return this.#key;
  }
}

function keyString(source: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...source.subarray(at, at + length));
}

function malformed(message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `malformed redo batch: ${message}`);
}

/** Fields of a job in RedoBatchIndex.jobs. */
export const enum JobField { KeyAt, KeyLength, ImageAt, ImageLength, FirstRecord, RecordCount }
const JOB_FIELDS = 6;
/** Fields of a record in RedoBatchIndex.records. */
export const enum RecordField { Kind, WillInit, BlockId, At, Length }
const RECORD_FIELDS = 5;
/** RecordField.Kind of a PostgreSQL WAL record (the other kind is a Strata record). */
export const REDO_RECORD_WAL = KIND_WAL;

/**
 * Where everything of an encoded batch lies, in columns: per job its key, image and records, per
 * record its LSN, kind, will-init, block id, and where its WAL bytes lie (or its index in the
 * Strata list). One index is reused from batch to batch. WHY: the walredo worker reads the
 * records straight from the batch buffer (reconstruct.ts IndexedBatchRedo); the objects of
 * decodeRedoBatch (a subarray and two objects per record, then a decoded record
 * object per record) were a fifth of the worker's time on 200-record chains, much of it in GC.
 */
export class RedoBatchIndex {
  jobCount = 0;
  recordCount = 0;
  jobs = new Int32Array(64 * JOB_FIELDS);
  imageLsn = new Float64Array(64);
  records = new Int32Array(1024 * RECORD_FIELDS);
  recordLsn = new Float64Array(1024);

  /** Indexes the batch encoded in `source`; throws PS_ERR_REDO_FAILED when it is malformed (see the header). */
  read(source: Uint8Array, strataRecordCount: number): this {
    if (source.length < HEADER_BYTES || (source.byteOffset & 7) !== 0) throw malformed('too short or misaligned');
    const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
    if (view.getUint32(0, true) !== MAGIC) throw malformed('bad magic');
    if (view.getUint16(4, true) !== VERSION) throw malformed(`version ${view.getUint16(4, true)}, expected ${VERSION}`);
    const jobCount = view.getUint16(6, true);
    const length = view.getUint32(8, true);
    if (length > source.length) throw malformed(`length ${length} beyond the ${source.length}-byte buffer`);
    const need = (at: number, bytes: number): void => {
      if (at + bytes > length) throw malformed(`part at ${at} of ${bytes} bytes runs past the end (${length})`);
    };
    if (this.imageLsn.length < jobCount) {
      this.jobs = new Int32Array(jobCount * JOB_FIELDS);
      this.imageLsn = new Float64Array(jobCount);
    }
    this.jobCount = 0;
    this.recordCount = 0;
    let at = HEADER_BYTES;
    for (let jobIndex = 0; jobIndex < jobCount; jobIndex++) {
      need(at, JOB_HEADER_BYTES);
      const keyLength = view.getUint16(at, true);
      const hasImage = view.getUint16(at + 2, true);
      const recordCount = view.getUint32(at + 4, true);
      const imageLsn = view.getFloat64(at + 8, true);
      const imageLength = view.getUint32(at + 16, true);
      if (hasImage > 1) throw malformed(`job ${jobIndex} has image flag ${hasImage}`);
      at += JOB_HEADER_BYTES;
      need(at, keyLength);
      const job = jobIndex * JOB_FIELDS;
      this.jobs[job + JobField.KeyAt] = at;
      this.jobs[job + JobField.KeyLength] = keyLength;
      at += padded(keyLength);
      this.jobs[job + JobField.ImageAt] = -1;
      this.jobs[job + JobField.ImageLength] = 0;
      this.imageLsn[jobIndex] = imageLsn;
      if (hasImage === 1) {
        need(at, imageLength);
        this.jobs[job + JobField.ImageAt] = at;
        this.jobs[job + JobField.ImageLength] = imageLength;
        at += padded(imageLength);
      }
      // Each record takes at least its header: a count the buffer cannot hold is refused before
      // the columns grow for it.
      need(at, recordCount * RECORD_HEADER_BYTES);
      this.jobs[job + JobField.FirstRecord] = this.recordCount;
      this.jobs[job + JobField.RecordCount] = recordCount;
      this.#reserveRecords(this.recordCount + recordCount);
      for (let recordIndex = 0; recordIndex < recordCount; recordIndex++) {
        need(at, RECORD_HEADER_BYTES);
        const record = this.recordCount * RECORD_FIELDS;
        const kind = view.getUint8(at + 8);
        const size = view.getUint32(at + 12, true);
        this.recordLsn[this.recordCount] = view.getFloat64(at, true);
        this.records[record + RecordField.Kind] = kind;
        this.records[record + RecordField.WillInit] = view.getUint8(at + 9) === 1 ? 1 : 0;
        this.records[record + RecordField.BlockId] = view.getUint8(at + 10);
        at += RECORD_HEADER_BYTES;
        if (kind === KIND_WAL) {
          need(at, size);
          this.records[record + RecordField.At] = at;
          this.records[record + RecordField.Length] = size;
          at += padded(size);
        } else if (kind === KIND_STRATA) {
          if (size >= strataRecordCount) throw malformed(`job ${jobIndex} refers to Strata record ${size} of ${strataRecordCount}`);
          this.records[record + RecordField.At] = size;
          this.records[record + RecordField.Length] = 0;
        } else {
          throw malformed(`job ${jobIndex} record ${recordIndex} has kind ${kind}`);
        }
        this.recordCount += 1;
      }
      this.jobCount = jobIndex + 1;
    }
    if (at !== length) throw malformed(`the jobs end at ${at}, the batch at ${length}`);
    return this;
  }

  /** The key of job `job` (made on demand: error messages). */
  key(source: Uint8Array, job: number): string {
    return keyString(source, this.jobs[job * JOB_FIELDS + JobField.KeyAt]!, this.jobs[job * JOB_FIELDS + JobField.KeyLength]!);
  }

  jobField(job: number, field: JobField): number {
    return this.jobs[job * JOB_FIELDS + field]!;
  }

  recordField(record: number, field: RecordField): number {
    return this.records[record * RECORD_FIELDS + field]!;
  }

  #reserveRecords(count: number): void {
    if (count <= this.recordLsn.length) return;
    const capacity = Math.max(count, this.recordLsn.length * 2);
    const records = new Int32Array(capacity * RECORD_FIELDS);
    records.set(this.records.subarray(0, this.recordCount * RECORD_FIELDS));
    const lsns = new Float64Array(capacity);
    lsns.set(this.recordLsn.subarray(0, this.recordCount));
    this.records = records;
    this.recordLsn = lsns;
  }
}

/**
 * The jobs of an encoded batch, their images and WAL records as views of `source` (valid as long
 * as its bytes are not rewritten); throws PS_ERR_REDO_FAILED when the encoding is malformed.
 */
export function decodeRedoBatch(source: Uint8Array, strataRecords: readonly StrataRecord[]): RedoJob[] {
  const index = new RedoBatchIndex().read(source, strataRecords.length);
  const jobs: RedoJob[] = [];
  for (let job = 0; job < index.jobCount; job++) {
    const imageAt = index.jobField(job, JobField.ImageAt);
    const image = imageAt < 0 ? undefined : { lsn: index.imageLsn[job]!, bytes: source.subarray(imageAt, imageAt + index.jobField(job, JobField.ImageLength)) };
    const records: RedoJob['data']['records'] = [];
    const first = index.jobField(job, JobField.FirstRecord);
    for (let record = first, end = first + index.jobField(job, JobField.RecordCount); record < end; record++) {
      const lsn = index.recordLsn[record]!;
      const willInit = index.recordField(record, RecordField.WillInit) === 1;
      const at = index.recordField(record, RecordField.At);
      if (index.recordField(record, RecordField.Kind) === KIND_WAL) {
        const blockId = index.recordField(record, RecordField.BlockId);
        records.push({ lsn, value: { kind: 'walRecord', willInit, blockId, record: source.subarray(at, at + index.recordField(record, RecordField.Length)) } });
      } else {
        records.push({ lsn, value: { kind: 'strataRecord', willInit, record: strataRecords[at]! } });
      }
    }
    jobs.push(new PackedRedoJob(source, index.jobField(job, JobField.KeyAt), index.jobField(job, JobField.KeyLength), { image, records }));
  }
  return jobs;
}
