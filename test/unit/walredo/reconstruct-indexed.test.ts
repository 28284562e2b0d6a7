/**
 * The walredo worker's path (reconstruct.ts IndexedBatchRedo over an encoded batch and its
 * RedoBatchIndex) builds the same pages and fails with the same errors as the object path
 * (reconstructPage), job by job, with one index and one IndexedBatchRedo reused across batches.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import type { ReconstructData } from '../../../src/value.js';
import { BLCKSZ } from '../../../src/walredo/page.js';
import { IndexedBatchRedo, reconstructPage } from '../../../src/walredo/reconstruct.js';
import { encodedRedoBatchLength, encodeRedoBatch, RedoBatchIndex } from '../../../src/walredo/redo-batch-codec.js';
import type { RedoJob } from '../../../src/walredo/walredo-protocol.js';
import { buildRecord } from '../wal/wal-builder.js';
import { struct } from './redo-fixtures.js';

const RM_HEAP = 10;
const XLOG_HEAP_INSERT = 0x00;
const XLOG_HEAP_INIT_PAGE = 0x80;
const REL = { spcNode: 1663, dbNode: 5, relNode: 16384 };

/** A heap INSERT of a tuple of `size` data bytes at `offsetNumber` (with INIT_PAGE for the first). */
function insertRecord(offsetNumber: number, size: number, xid: number): Uint8Array {
  const tuple = Uint8Array.from({ length: size }, (_, index) => (index * 7 + offsetNumber) & 0xff);
  // xl_heap_header: t_infomask2 u16, t_infomask u16, t_hoff u8; then the tuple's data.
  const data = new Uint8Array(5 + size);
  data.set(struct([2, 3], [2, 0x0802], [1, 24]));
  data.set(tuple, 5);
  return buildRecord({
    xid, rmgr: RM_HEAP, info: XLOG_HEAP_INSERT | (offsetNumber === 1 ? XLOG_HEAP_INIT_PAGE : 0),
    // xl_heap_insert: offnum u16, flags u8.
    mainData: struct([2, offsetNumber], [1, 0]),
    blocks: [{ id: 0, rel: REL, block: 3, willInit: offsetNumber === 1, data }],
  }, 0);
}

function heapJob(key: string, inserts: number, firstLsn: number): RedoJob {
  const records: ReconstructData['records'] = [];
  for (let offset = 1; offset <= inserts; offset++) {
    records.push({ lsn: firstLsn + offset * 0x100, value: { kind: 'walRecord', willInit: offset === 1, blockId: 0, record: insertRecord(offset, 4 + (offset % 9), 700 + offset) } });
  }
  return { key, data: { image: undefined, records } };
}

function clogJob(key: string): RedoJob {
  return {
    key, data: {
      image: { lsn: 50, bytes: new Uint8Array(BLCKSZ) },
      records: [
        { lsn: 60, value: { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids: [3, 4], timestamp: 0 } } },
        { lsn: 70, value: { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetAborted', xids: [5] } } },
      ],
    },
  };
}

/** A job whose second record is cut short: it cannot be decoded. */
function brokenJob(key: string): RedoJob {
  const job = heapJob(key, 3, 0x9000);
  const second = job.data.records[1]!.value;
  if (second.kind === 'walRecord') job.data.records[1] = { lsn: job.data.records[1]!.lsn, value: { ...second, record: second.record.subarray(0, 30) } };
  return job;
}

function encode(jobs: RedoJob[]): { source: Uint8Array; strataRecords: ReturnType<typeof encodeRedoBatch>['strataRecords'] } {
  const source = new Uint8Array(new SharedArrayBuffer(encodedRedoBatchLength(jobs) + 64));
  const { strataRecords } = encodeRedoBatch(jobs, source);
  return { source, strataRecords };
}

function objectPath(job: RedoJob): Uint8Array | Error {
  try {
    return reconstructPage(job.key, job.data);
  } catch (error) {
    return error as Error;
  }
}

const index = new RedoBatchIndex();
const batchRedo = new IndexedBatchRedo();

function indexedPath(jobs: RedoJob[]): (Uint8Array | Error)[] {
  const { source, strataRecords } = encode(jobs);
  const batch = index.read(source, strataRecords.length);
  assert.is(batch.jobCount, jobs.length);
  batchRedo.prepare(batch, source);
  return jobs.map((job, jobIndex) => {
    const page = new Uint8Array(BLCKSZ).fill(0xee); // every byte must be written
    try {
      const applied = batchRedo.reconstruct(jobIndex, source, strataRecords, page);
      assert.is(applied, job.data.records.length);
      return page;
    } catch (error) {
      return error as Error;
    }
  });
}

test('pages equal the object path: heap inserts from an initialized page, Strata records on an image', () => {
  const jobs = [heapJob('heap-a', 40, 0x1000), clogJob('clog'), heapJob('heap-b', 1, 0x5000), heapJob('heap-c', 120, 0x6000)];
  const indexed = indexedPath(jobs);
  jobs.forEach((job, jobIndex) => {
    const expected = objectPath(job);
    const actual = indexed[jobIndex]!;
    assert.ok(expected instanceof Uint8Array && actual instanceof Uint8Array, `job ${job.key}`);
    assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `job ${job.key}: the same page`);
  });
  const first = indexed[0] as Uint8Array;
  assert.is(first[12]! | (first[13]! << 8), 24 + 4 * 40, 'pd_lower after 40 line pointers');
});

test('the index and scratch are reused: a large batch, then a small one, then a large one again', () => {
  for (const jobs of [[heapJob('big', 150, 0x1000), heapJob('big2', 150, 0x9000)], [clogJob('small')], [heapJob('again', 90, 0x3000)]]) {
    indexedPath(jobs).forEach((actual, jobIndex) => {
      const expected = objectPath(jobs[jobIndex]!);
      assert.ok(actual instanceof Uint8Array && expected instanceof Uint8Array);
      assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), jobs[jobIndex]!.key);
    });
  }
});

test('a job that cannot be decoded fails alone, naming its key and the record LSN, as on the object path', () => {
  const jobs = [heapJob('before', 5, 0x1000), brokenJob('broken'), heapJob('after', 5, 0x2000)];
  const indexed = indexedPath(jobs);
  assert.ok(indexed[0] instanceof Uint8Array);
  assert.ok(indexed[2] instanceof Uint8Array);
  const failure = indexed[1]!;
  const expected = objectPath(jobs[1]!);
  assert.ok(isStrataError(failure) && isStrataError(expected), String(failure));
  assert.is(failure.code, expected.code);
  assert.is(failure.message, expected.message);
  assert.match(failure.message, /^broken at 0\/9200: /);
  assert.is(failure.context.key, 'broken');
});

test('an image that is not a page is refused with the key', () => {
  const job: RedoJob = { key: 'short-image', data: { image: { lsn: 9, bytes: new Uint8Array(100) }, records: [] } };
  const [failure] = indexedPath([job]);
  assert.ok(isStrataError(failure, 'PS_ERR_REDO_FAILED'));
  assert.match(failure.message, /short-image/);
});

test('a record count larger than the buffer could hold is malformed, refused before any column grows for it', () => {
  const { source, strataRecords } = encode([heapJob('x', 1, 0x1000)]);
  new DataView(source.buffer).setUint32(16 + 4, 0x7fff_ffff, true); // the first job's record count
  const before = index.records.length;
  assert.throws(() => index.read(source, strataRecords.length), (error: unknown) => isStrataError(error, 'PS_ERR_REDO_FAILED'));
  assert.is(index.records.length, before);
});


test('corrupted batches: every byte flip is read, or refused with PS_ERR_REDO_FAILED; jobs fail with coded errors, never a crash', () => {
  const jobs = [heapJob('a', 6, 0x1000), clogJob('clog'), heapJob('b', 3, 0x2000)];
  const { source: clean, strataRecords } = encode(jobs);
  const length = new DataView(clean.buffer).getUint32(8, true);
  let random = 12345;
  const next = (): number => {
    random = (Math.imul(random, 1103515245) + 12345) >>> 0;
    return random;
  };
  let refused = 0;
  let jobFailures = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const source = new Uint8Array(new SharedArrayBuffer(clean.length));
    source.set(clean);
    for (let flips = 1 + (next() % 3); flips > 0; flips--) {
      const at = next() % length;
      source[at] = source[at]! ^ (1 << (next() % 8));
    }
    let batch: RedoBatchIndex;
    try {
      batch = index.read(source, strataRecords.length);
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_REDO_FAILED'), String(error));
      refused += 1;
      continue;
    }
    batchRedo.prepare(batch, source);
    for (let job = 0; job < batch.jobCount; job++) {
      try {
        batchRedo.reconstruct(job, source, strataRecords, new Uint8Array(BLCKSZ));
      } catch (error) {
        assert.ok(isStrataError(error), `trial ${trial} job ${job}: ${String(error)}`);
        jobFailures += 1;
      }
    }
  }
  assert.ok(refused > 0 && jobFailures > 0, `refused ${refused}, job failures ${jobFailures}`);
});

test.run();
