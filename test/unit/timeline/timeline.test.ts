/**
 * Timeline (src/timeline/timeline.ts): waiting for WAL, LSN bookkeeping after ingest, skipping of
 * re-streamed records, GetPage@LSN and relation sizes, flushing and shutdown.
 *
 * WHY the real WalIngest over MemoryTimelineStore: the timeline's answers depend on what ingest
 * stores (images, WAL records, relation sizes) at each record's end LSN; with the real pieces a
 * test sees the same values the server would. The store is wrapped only to record and steer flush.
 * Expected LSNs are written out by hand (not computed with nextRecordStart) so an off-by-one in the
 * module cannot cancel out in the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError, type ErrorCode } from '../../../src/errors.js';
import { getRelSize } from '../../../src/ingest/metadata-readers.js';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { relBlockKey, type Key } from '../../../src/keys.js';
import { limits } from '../../../src/limits.js';
import { formatLsn, type Lsn } from '../../../src/lsn.js';
import { MemoryTimelineStore } from '../../../src/storage/memory-timeline-store.js';
import type { TimelineStore } from '../../../src/storage/types.js';
import type { ReconstructData, Value } from '../../../src/value.js';
import { BACKUP_LEASE_MS, Timeline, type PageRedo, type RecordIngest, type TimelineLsns } from '../../../src/timeline/timeline.js';
import { RmgrId, type DecodedRecord } from '../../../src/wal/types.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { StructWriter, makeBlock, makeRecord } from '../records/record-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const main = { ...rel, forkNumber: 0 };
const missing = { ...rel, relNode: 99_999, forkNumber: 0 };
/** The timeline's starting point (a base backup's end): every LSN in these tests is above it. */
const BASE = 0x200100;
const XLOG_FPI = 0xb0;
const page = (fill: number) => new Uint8Array(8192).fill(fill);
/** page(fill) as redo restores it from an FPI record ending at `endLsn`: pd_lsn is that LSN. */
function restored(fill: number, endLsn: Lsn): Uint8Array {
  const bytes = page(fill);
  new DataView(bytes.buffer).setUint32(0, Math.floor(endLsn / 2 ** 32), true);
  new DataView(bytes.buffer).setUint32(4, endLsn % 2 ** 32, true);
  return bytes;
}

/** An XLOG FPI record: stores `image` for the block and creates/extends the relation. */
function fpi(lsn: Lsn, endLsn: Lsn, blockNumber: number, fill: number): DecodedRecord {
  return makeRecord({ lsn, endLsn, rmgrId: RmgrId.Xlog, info: XLOG_FPI, blocks: [makeBlock({ rel, blockNumber, image: page(fill) })] });
}

/** A Btree record without image: stores the WAL record on top of the block's last version. */
function btree(lsn: Lsn, endLsn: Lsn, blockNumber: number): DecodedRecord {
  return makeRecord({ lsn, endLsn, rmgrId: RmgrId.Btree, info: 0, mainData: new StructWriter().u16(1).bytes(), blocks: [makeBlock({ rel, blockNumber })] });
}

/** MemoryTimelineStore that records flushes and can hold them (gate) or lie about their result. */
class RecordingStore implements TimelineStore {
  readonly inner = new MemoryTimelineStore();
  readonly flushCalls: Lsn[] = [];
  gate: Promise<void> | undefined;
  flushResult: ((upToLsn: Lsn) => Lsn) | undefined;
  closed = false;

  get lastPutLsn(): Lsn { return this.inner.lastPutLsn; }
  get diskConsistentLsn(): Lsn { return this.inner.diskConsistentLsn; }
  get openLayerBytes(): number { return this.inner.openLayerBytes; }
  put(key: Key, lsn: Lsn, value: Value): void { this.inner.put(key, lsn, value); }
  getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> { return this.inner.getReconstructData(key, lsn); }

  async flush(upToLsn: Lsn): Promise<Lsn> {
    this.flushCalls.push(upToLsn);
    if (this.gate) await this.gate;
    const durable = await this.inner.flush(upToLsn);
    return this.flushResult ? this.flushResult(upToLsn) : durable;
  }

  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }
}

interface HarnessOptions {
  waitLsnTimeoutMs?: number;
  checkpointTimeoutMs?: number;
  checkpointDistanceBytes?: number;
  redo?: PageRedo;
  allow?: RegExp[];
  lsns?: Partial<TimelineLsns>;
}

/** A timeline at BASE over a recording store, the real WalIngest behind a spy, and a log capture. */
async function harness(options: HarnessOptions = {}) {
  const capture = new LogCapture(options.allow ?? []);
  const store = new RecordingStore();
  const walIngest = await WalIngest.create(store, { logger: capture.logger });
  const batches: DecodedRecord[][] = [];
  const ingest: RecordIngest = {
    ingestBatch: async (records) => { batches.push([...records]); await walIngest.ingestBatch(records); },
    ingestPacked: (batch, first) => walIngest.ingestPacked(batch, first),
  };
  const persisted: TimelineLsns[] = [];
  const lsns: TimelineLsns = { consistentLsn: BASE, lastRecordLsn: BASE, diskConsistentLsn: BASE, remoteConsistentLsn: 0, ...options.lsns };
  const timeline = new Timeline({
    tenantId: 'a'.repeat(32), timelineId: 'b'.repeat(32), store, ingest, relations: { getRelSize }, logger: capture.logger, lsns,
    waitLsnTimeoutMs: options.waitLsnTimeoutMs ?? 5_000,
    checkpointDistanceBytes: options.checkpointDistanceBytes ?? 1 << 30,
    persist: async (snapshot) => { persisted.push(snapshot); },
    ...(options.redo ? { redo: options.redo } : {}),
    ...(options.checkpointTimeoutMs === undefined ? {} : { checkpointTimeoutMs: options.checkpointTimeoutMs }),
  });
  return { timeline, store, batches, persisted, capture };
}

function afterFirstRecord(at: Lsn): Lsn {
  return Math.min(at, BASE + 0x40);
}

/** 'pending', 'resolved' or 'rejected' after pending callbacks have run. */
async function settledState(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  await new Promise((resolve) => setImmediate(resolve));
  return state;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode, label: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isStrataError(error, code), `${label}: expected ${code}, got ${String(error)}`);
    return error;
  }
  assert.unreachable(`${label}: resolved, expected ${code}`);
  throw new Error('unreachable');
}

// ---- waitForLsn -------------------------------------------------------------------------------

test('waitForLsn resolves once ingest reaches the LSN, not before', async () => {
  const { timeline, capture } = await harness();
  const record = fpi(BASE, BASE + 0x2005, 0, 1); // last_record_lsn becomes BASE + 0x2008
  const atEnd = timeline.waitForLsn(BASE + 0x2008);
  const beyond = timeline.waitForLsn(BASE + 0x2010, 200);
  beyond.catch(() => undefined); // Checked below; keeps a failure above from crashing the process.
  assert.is(await settledState(atEnd), 'pending');
  await timeline.ingestRecords([record]);
  assert.is(await settledState(atEnd), 'resolved');
  assert.is(await settledState(beyond), 'pending', 'a waiter above last_record_lsn keeps waiting');
  await expectCode(beyond, 'PS_ERR_TIMEOUT', 'waiter above');
  capture.assertClean();
});

test('waitForLsn rejects with PS_ERR_TIMEOUT after its bound', async () => {
  const { timeline, capture } = await harness();
  const started = Date.now();
  const error = await expectCode(timeline.waitForLsn(BASE + 0x100, 40), 'PS_ERR_TIMEOUT', 'explicit bound');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 35 && elapsed < 1_000, `waited ${elapsed} ms for a 40 ms bound`);
  assert.match(error.message, formatLsn(BASE + 0x100));
  capture.assertClean();
});

test('a read above last_record_lsn times out after waitLsnTimeoutMs', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 30 });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  const started = Date.now();
  await expectCode(timeline.getPage(main, 0, BASE + 0x1000), 'PS_ERR_TIMEOUT', 'getPage');
  assert.ok(Date.now() - started >= 25, 'the read waited for WAL first');
  capture.assertClean();
});

test('more waiters than mailboxCapacityMax are refused with PS_ERR_MAILBOX_FULL', async () => {
  const { timeline, capture } = await harness();
  const waiting = Array.from({ length: limits.mailboxCapacityMax }, (_, index) => timeline.waitForLsn(BASE + 8 * (index + 1), 10_000));
  const outcomes = Promise.allSettled(waiting);
  await expectCode(timeline.waitForLsn(BASE + 0x100000, 10_000), 'PS_ERR_MAILBOX_FULL', 'one too many');
  await timeline.close();
  const results = await outcomes;
  assert.ok(results.every((result) => result.status === 'rejected'), 'close rejects the waiters it held');
  capture.assertClean();
});

test('waiters that timed out free their places', async () => {
  const { timeline, capture } = await harness();
  const waiting = Array.from({ length: limits.mailboxCapacityMax }, () => timeline.waitForLsn(BASE + 0x100, 20));
  const results = await Promise.allSettled(waiting);
  assert.ok(results.every((result) => result.status === 'rejected'));
  await expectCode(timeline.waitForLsn(BASE + 0x100, 20), 'PS_ERR_TIMEOUT', 'after the first wave timed out');
  capture.assertClean();
});

// ---- LSN bookkeeping --------------------------------------------------------------------------

test('last_record_lsn after a record is its end MAXALIGNed', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 20 });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x2005, 0, 1)]);
  assert.is(formatLsn(timeline.lastRecordLsn), formatLsn(0x202108));
  // PostgreSQL's insert position after the record: a read there must not wait (it would time out).
  assert.is(await timeline.relSize(main, 0x202108), 1);
  capture.assertClean();
});

test('last_record_lsn skips the short page header when a record ends at a page boundary', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 20 });
  await timeline.ingestRecords([fpi(BASE, 0x203ffa, 0, 1)]);
  assert.is(formatLsn(timeline.lastRecordLsn), formatLsn(0x204018));
  assert.equal(await timeline.getPage(main, 0, 0x204018), restored(1, 0x203ffa));
  capture.assertClean();
});

test('last_record_lsn skips the long page header when a record ends at a segment boundary', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 20 });
  await timeline.ingestRecords([fpi(0xffe000, 0xfffffd, 0, 1)]);
  assert.is(formatLsn(timeline.lastRecordLsn), formatLsn(0x1000028));
  assert.is(await timeline.relSize(main, 0x1000028), 1);
  capture.assertClean();
});

test('records ending at or below last_record_lsn are not ingested again', async () => {
  const { timeline, batches, capture } = await harness();
  const first = fpi(BASE, BASE + 0x2010, 0, 1);
  const second = btree(BASE + 0x2010, BASE + 0x2050, 0);
  const third = btree(BASE + 0x2050, BASE + 0x2090, 0);
  assert.is(await timeline.ingestRecords([first, second]), 2);
  assert.is(await timeline.ingestRecords([first, second]), 0, 'a re-streamed batch is skipped whole');
  assert.is(batches.length, 1, 'ingest was not called for the re-streamed batch');
  assert.is(await timeline.ingestRecords([first, second, third]), 1);
  assert.equal(batches[1]?.map((record) => record.lsn), [third.lsn], 'only the new record reached ingest');
  assert.is(timeline.ingestedRecordCount, 3);
  assert.equal(timeline.recordCounts(), { XLOG: 1, Btree: 2 });
  assert.is(timeline.lastRecordLsn, BASE + 0x2090);
  capture.assertClean();
});

test('a record ending exactly at last_record_lsn counts as already ingested', async () => {
  const { timeline, batches, capture } = await harness();
  const before = btree(BASE - 0x80, BASE - 0x40, 0);
  const atStart = btree(BASE - 0x40, BASE, 0);
  const after = fpi(BASE, BASE + 0x40, 0, 1);
  assert.is(await timeline.ingestRecords([before, atStart, after]), 1);
  assert.equal(batches[0]?.map((record) => record.lsn), [after.lsn]);
  assert.equal(timeline.recordCounts(), { XLOG: 1 });
  capture.assertClean();
});

// ---- reads ------------------------------------------------------------------------------------

test('reads below consistent_lsn are refused with PS_ERR_LSN_TOO_OLD', async () => {
  const { timeline, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  await expectCode(timeline.relSize(main, BASE - 8), 'PS_ERR_LSN_TOO_OLD', 'relSize');
  await expectCode(timeline.getPage(main, 0, BASE - 8), 'PS_ERR_LSN_TOO_OLD', 'getPage');
  // At consistent_lsn itself the read is allowed; the relation only exists from the record on.
  await expectCode(timeline.relSize(main, BASE), 'PS_ERR_NOT_FOUND', 'relSize at consistent_lsn');
  capture.assertClean();
});

test('reads without an LSN use last_record_lsn; reads with one see that version', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 20 });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  const afterFirst = timeline.lastRecordLsn;
  await timeline.ingestRecords([fpi(BASE + 0x40, BASE + 0x80, 0, 2), fpi(BASE + 0x80, BASE + 0xc0, 5, 3)]);
  assert.is(await timeline.relSize(main, undefined), 6);
  assert.is(await timeline.relSize(main, afterFirst), 1);
  assert.equal(await timeline.getPage(main, 0, undefined), restored(2, BASE + 0x80));
  assert.equal(await timeline.getPage(main, 0, afterFirst), restored(1, BASE + 0x40));
  capture.assertClean();
});

test('getPageRuns equals getPage page by page; a backup manifest holds GC below its LSN until released or lapsed', async () => {
  const { timeline, capture } = await harness({ waitLsnTimeoutMs: 20 });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1), fpi(BASE + 0x40, BASE + 0x80, 1, 2), fpi(BASE + 0x80, BASE + 0xc0, 3, 3)]);
  const at = timeline.lastRecordLsn;
  const runs = await timeline.getPageRuns([{ rel: main, firstBlock: 0, count: 2 }, { rel: main, firstBlock: 3, count: 1 }], at);
  assert.equal(runs.subarray(0, 8192), await timeline.getPage(main, 0, at));
  assert.equal(runs.subarray(8192, 16384), await timeline.getPage(main, 1, at));
  assert.equal(runs.subarray(16384), await timeline.getPage(main, 3, at));
  await expectCode(timeline.getPageRuns([{ rel: main, firstBlock: 3, count: 2 }], at), 'PS_ERR_NOT_FOUND', 'a run past the end');
  await expectCode(timeline.getPageRuns([{ rel: main, firstBlock: 0, count: 33 }], at), 'PS_ERR_BAD_REQUEST', 'a run above the bound');
  assert.is(timeline.backupLeaseFloor(), Infinity);
  const manifest = await timeline.backupManifest(afterFirstRecord(at));
  assert.is(timeline.backupLeaseFloor(), manifest.lsn, 'the manifest leases its LSN');
  assert.is(timeline.backupLeaseFloor(Date.now() + BACKUP_LEASE_MS + 1), Infinity, 'a lease nobody renews lapses');
  await timeline.backupManifest(at);
  timeline.releaseBackupLease(at);
  assert.is(timeline.backupLeaseFloor(), Infinity, 'a released lease goes at once');
  capture.assertClean();
});

test('getPage returns the image when no records follow it', async () => {
  const { timeline, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 7)]);
  assert.equal(await timeline.getPage(main, 0, undefined), restored(7, BASE + 0x40));
  capture.assertClean();
});

test('getPage of a block inside the relation with no stored version is a zero page', async () => {
  const { timeline, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 3, 7)]);
  assert.is(await timeline.relSize(main, undefined), 4);
  assert.equal(await timeline.getPage(main, 1, undefined), new Uint8Array(8192));
  capture.assertClean();
});

test('getPage beyond the relation size or of a missing relation is PS_ERR_NOT_FOUND', async () => {
  const { timeline, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 3, 7)]);
  await expectCode(timeline.getPage(main, 4, undefined), 'PS_ERR_NOT_FOUND', 'block == size');
  await expectCode(timeline.getPage(missing, 0, undefined), 'PS_ERR_NOT_FOUND', 'missing relation');
  await expectCode(timeline.relSize(missing, undefined), 'PS_ERR_NOT_FOUND', 'relSize of missing relation');
  capture.assertClean();
});

test('getPage with records on top of the image and no redo is PS_ERR_REDO_UNSUPPORTED', async () => {
  const { timeline, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 7), btree(BASE + 0x40, BASE + 0x84, 0)]);
  const error = await expectCode(timeline.getPage(main, 0, undefined), 'PS_ERR_REDO_UNSUPPORTED', 'no redo');
  assert.ok(isStrataError(error));
  assert.is(error.context.first_record_lsn, formatLsn(BASE + 0x84));
  // Below the record the image alone answers.
  assert.equal(await timeline.getPage(main, 0, BASE + 0x40), restored(7, BASE + 0x40));
  capture.assertClean();
});

test('getPage with records on top of the image calls the injected redo and returns its page', async () => {
  const calls: { key: string; data: ReconstructData; lsn: Lsn }[] = [];
  const redo: PageRedo = async (key, data, lsn) => { calls.push({ key, data, lsn }); return page(9); };
  const { timeline, capture } = await harness({ redo });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 7), btree(BASE + 0x40, BASE + 0x84, 0)]);
  assert.equal(await timeline.getPage(main, 0, undefined), page(9));
  assert.is(calls.length, 1);
  const call = calls[0]!;
  assert.is(call.key, relBlockKey(main, 0));
  assert.is(call.lsn, BASE + 0x88);
  assert.is(call.data.image?.lsn, BASE + 0x40);
  assert.equal(call.data.image?.bytes, restored(7, BASE + 0x40));
  assert.equal(call.data.records.map((record) => record.lsn), [BASE + 0x84]);
  capture.assertClean();
});

// ---- flush ------------------------------------------------------------------------------------

test('flush writes up to last_record_lsn, persists the LSNs and advances disk_consistent_lsn', async () => {
  const { timeline, store, persisted, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x44, 0, 1)]);
  assert.is(await timeline.flush(), BASE + 0x48);
  assert.equal(store.flushCalls, [BASE + 0x48]);
  assert.is(timeline.diskConsistentLsn, BASE + 0x48);
  assert.equal(persisted, [{ consistentLsn: BASE, lastRecordLsn: BASE + 0x48, diskConsistentLsn: BASE + 0x48, remoteConsistentLsn: 0 }]);
  await timeline.ingestRecords([btree(BASE + 0x48, BASE + 0x90, 0)]);
  assert.is(await timeline.flush(), BASE + 0x90);
  assert.equal(store.flushCalls, [BASE + 0x48, BASE + 0x90]);
  assert.equal(persisted.map((lsns) => lsns.diskConsistentLsn), [BASE + 0x48, BASE + 0x90]);
  capture.assertClean();
});

test('flush refuses a store answer that would move disk_consistent_lsn backwards', async () => {
  const { timeline, store, persisted, capture } = await harness({ allow: [/flush of in-memory layer failed/] });
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  await timeline.flush();
  await timeline.ingestRecords([btree(BASE + 0x40, BASE + 0x80, 0)]);
  store.flushResult = () => BASE + 0x20;
  let failed = false;
  await timeline.flush().catch(() => { failed = true; });
  assert.ok(failed, 'flush rejected');
  assert.is(timeline.diskConsistentLsn, BASE + 0x40, 'disk_consistent_lsn kept');
  assert.is(persisted.length, 1, 'nothing persisted for the refused flush');
  assert.is(capture.lines.filter((line) => line.level === 50).length, 1, 'the failure is logged once');
  capture.assertClean();
});

test('concurrent flush calls share one store flush', async () => {
  const { timeline, store, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  let release = () => {};
  store.gate = new Promise<void>((resolve) => { release = resolve; });
  const first = timeline.flush();
  const second = timeline.flush();
  await new Promise((resolve) => setImmediate(resolve));
  const third = timeline.flush(); // joins while the store is writing
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(store.flushCalls.length, 1);
  release();
  assert.equal(await Promise.all([first, second, third]), [BASE + 0x40, BASE + 0x40, BASE + 0x40]);
  store.gate = undefined;
  await timeline.ingestRecords([btree(BASE + 0x40, BASE + 0x80, 0)]);
  assert.is(await timeline.flush(), BASE + 0x80, 'a flush after the shared one flushes again');
  assert.equal(store.flushCalls, [BASE + 0x40, BASE + 0x80]);
  capture.assertClean();
});

test('a flush with nothing to write does not block later flushes', async () => {
  const { timeline, store, capture } = await harness();
  assert.is(await timeline.flush(), BASE, 'nothing ingested: disk_consistent_lsn stays');
  assert.is(store.flushCalls.length, 0);
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  assert.is(await timeline.flush(), BASE + 0x40, 'the next flush writes the new record');
  assert.equal(store.flushCalls, [BASE + 0x40]);
  assert.is(timeline.diskConsistentLsn, BASE + 0x40);
  capture.assertClean();
});

/** Bytes the open layer holds after ingesting `records` into a fresh timeline. */
async function openLayerBytesAfter(records: DecodedRecord[]): Promise<number> {
  const { timeline, store } = await harness();
  await timeline.ingestRecords(records);
  return store.openLayerBytes;
}

test('ingest flushes by itself once the open layer reaches checkpointDistanceBytes', async () => {
  const records = [fpi(BASE, BASE + 0x40, 0, 1)];
  const bytes = await openLayerBytesAfter(records);
  assert.ok(bytes > 0);
  const below = await harness({ checkpointDistanceBytes: bytes + 1 });
  await below.timeline.ingestRecords(records);
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(below.store.flushCalls.length, 0, 'below the distance: no flush');
  assert.is(below.timeline.diskConsistentLsn, BASE);
  const at = await harness({ checkpointDistanceBytes: bytes });
  await at.timeline.ingestRecords(records);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(at.store.flushCalls, [BASE + 0x40], 'at the distance: flush started');
  assert.is(at.timeline.diskConsistentLsn, BASE + 0x40);
  assert.is(at.persisted.length, 1);
  below.capture.assertClean();
  at.capture.assertClean();
});

test('flushIfStale flushes only once the oldest unflushed record is checkpointTimeoutMs old', async () => {
  const { timeline, store, capture } = await harness({ checkpointTimeoutMs: 1_000 });
  assert.not.ok(timeline.flushIfStale(Date.now() + 10_000), 'nothing ingested: nothing to flush');
  const before = Date.now();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  const after = Date.now();
  await timeline.ingestRecords([btree(BASE + 0x40, BASE + 0x80, 0)]);
  assert.not.ok(timeline.flushIfStale(before + 999), 'younger than the timeout');
  assert.is(store.flushCalls.length, 0);
  assert.ok(timeline.flushIfStale(after + 1_000), 'as old as the timeout');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.flushCalls, [BASE + 0x80]);
  assert.is(timeline.diskConsistentLsn, BASE + 0x80);
  assert.not.ok(timeline.flushIfStale(after + 100_000), 'flushed: nothing open any more');
  capture.assertClean();
});

// ---- close ------------------------------------------------------------------------------------

test('close rejects waiting reads with PS_ERR_SHUTTING_DOWN and closes the store', async () => {
  const { timeline, store, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  const read = timeline.getPage(main, 0, BASE + 0x1000);
  const wait = timeline.waitForLsn(BASE + 0x2000);
  assert.is(await settledState(read), 'pending');
  await timeline.close();
  await expectCode(read, 'PS_ERR_SHUTTING_DOWN', 'waiting getPage');
  await expectCode(wait, 'PS_ERR_SHUTTING_DOWN', 'waitForLsn');
  assert.ok(store.closed);
  capture.assertClean();
});

test('close waits for the flush in flight', async () => {
  const { timeline, store, capture } = await harness();
  await timeline.ingestRecords([fpi(BASE, BASE + 0x40, 0, 1)]);
  let release = () => {};
  store.gate = new Promise<void>((resolve) => { release = resolve; });
  const flushing = timeline.flush();
  const closing = timeline.close();
  assert.is(await settledState(closing), 'pending');
  assert.not.ok(store.closed, 'the store stays open while it flushes');
  release();
  await closing;
  assert.is(await flushing, BASE + 0x40);
  assert.ok(store.closed);
  capture.assertClean();
});

test.run();
