/**
 * Back-pressure (max_inmemory_bytes): a timeline whose flushes cannot keep up makes ingest wait,
 * so its in-memory layers stay bounded however much WAL arrives; ingest resumes when a flush
 * finishes; a flush that fails while ingest waits rejects the wait and is retried by the next one.
 *
 * WHY the real pieces: the bound is about real bytes, so the WAL is real WAL bytes (WalBuilder),
 * decoded into packed batches and ingested by WalIngest into a LayeredTimelineStore writing real
 * delta files (inline, through an Fs whose fsync the test holds: a slow disk it controls). Only
 * the timeline actor is played by the test: after each batch it calls waitForMemory before
 * "replying", exactly where the actor does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getRelSize } from '../../../src/ingest/metadata-readers.js';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { relBlockKey } from '../../../src/keys.js';
import { nodeFs, type Fs, type FsFileHandle } from '../../../src/storage/fs.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { Timeline } from '../../../src/timeline/timeline.js';
import { InlineWalDecoding } from '../../../src/wal/wal-decode-stage.js';
import { RmgrId } from '../../../src/wal/types.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { withTempDirectory } from '../storage/storage-harness.js';
import { appliedPageImage, WalBuilder } from '../wal/wal-builder.js';

const SEGMENT = 0x1000000;
const START = 6 * SEGMENT;
const XLOG_FPI = 0xb0;
const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const DISTANCE_BYTES = 512 * 1024;
const BUDGET_BYTES = 1024 * 1024;
const MESSAGE_BYTES = 64 * 1024;
const BLOCKS = 64;

/** ~10 MB of full-page images (10× the budget), each block's fill = record index & 0xff. */
function fpiWal(records: number): { bytes: Uint8Array; fillOfBlock: Map<number, number> } {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  const fillOfBlock = new Map<number, number>();
  for (let index = 0; index < records; index++) {
    const block = index % BLOCKS;
    wal.add({ rmgr: RmgrId.Xlog, info: XLOG_FPI, blocks: [{ id: 0, rel, block, image: appliedPageImage(index & 0xff) }] });
    fillOfBlock.set(block, index & 0xff);
  }
  return { bytes: wal.bytes().subarray(0, wal.recordEnds[wal.recordEnds.length - 1]! - START), fillOfBlock };
}

/** The real fs, but every file fsync waits while the test holds it (a disk it makes slow). */
class HeldFsync {
  held = true;
  failNext = false;
  readonly #waiting: Array<() => void> = [];

  get waitingCount(): number { return this.#waiting.length; }

  release(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }

  fs(): Fs {
    const wrap = (handle: FsFileHandle): FsFileHandle => ({
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: (buffer, offset, length, position) => handle.write(buffer, offset, length, position),
      sync: async () => {
        if (this.held) await new Promise<void>((resolve) => this.#waiting.push(resolve));
        if (this.failNext) {
          this.failNext = false;
          throw new Error('injected fsync failure');
        }
        return handle.sync();
      },
      size: () => handle.size(),
      close: () => handle.close(),
    });
    return { ...nodeFs, open: async (path, mode) => wrap(await nodeFs.open(path, mode)) };
  }
}

/** A promise's state, kept up to date. */
function track(promise: Promise<unknown>): { state: 'pending' | 'resolved' | 'rejected' } {
  const tracked = { state: 'pending' as 'pending' | 'resolved' | 'rejected' };
  promise.then(() => { tracked.state = 'resolved'; }, () => { tracked.state = 'rejected'; });
  return tracked;
}

/** The promise's state after pending callbacks ran, or once it settled within `withinMs`. */
async function settled(promise: Promise<unknown>, withinMs = 0): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  const done = promise.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, withinMs))]);
  return state;
}

/** Polls until `check` holds (file I/O runs on libuv's threads, so this takes real time). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 500 && !check(); round++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), what);
}

async function harness(directory: string, disk: HeldFsync, budgetBytes: number, allow: RegExp[] = []) {
  const capture = new LogCapture(allow);
  const store = await LayeredTimelineStore.open({
    directory, logger: capture.logger, fs: disk.fs(), flushThread: 'inline', checkpointDistanceBytes: DISTANCE_BYTES,
  });
  const ingest = await WalIngest.create(store, { logger: capture.logger });
  const timeline = new Timeline({
    tenantId: 'a'.repeat(32), timelineId: 'b'.repeat(32), store, ingest, relations: { getRelSize }, logger: capture.logger,
    lsns: { consistentLsn: START, lastRecordLsn: START, diskConsistentLsn: START, remoteConsistentLsn: 0 },
    waitLsnTimeoutMs: 5_000, checkpointDistanceBytes: DISTANCE_BYTES, inMemoryBytesMax: budgetBytes,
    persist: async () => undefined,
  });
  return { capture, store, timeline };
}

test('ingest of 10× max_inmemory_bytes through a held disk stays within the bound plus one batch, and resumes after each flush', () =>
  withTempDirectory(async (directory) => {
    const disk = new HeldFsync();
    const { capture, store, timeline } = await harness(directory, disk, BUDGET_BYTES);
    const { bytes, fillOfBlock } = fpiWal(1200);
    assert.ok(bytes.length > 9 * BUDGET_BYTES, `the WAL is many budgets (${bytes.length} bytes)`);
    const decoding = new InlineWalDecoding(START);
    let peakBytes = 0;
    let batchBytesMax = 0;
    let waits = 0;
    for (let offset = 0; offset < bytes.length; offset += MESSAGE_BYTES) {
      const batch = await decoding.decode(bytes.subarray(offset, Math.min(bytes.length, offset + MESSAGE_BYTES)));
      const before = timeline.inMemoryBytes;
      await timeline.ingestPacked(batch);
      batchBytesMax = Math.max(batchBytesMax, timeline.inMemoryBytes - before);
      peakBytes = Math.max(peakBytes, timeline.inMemoryBytes);
      const waiting = timeline.waitForMemory();
      if ((await settled(waiting)) === 'resolved') continue;
      waits += 1;
      // Blocked on the held fsync: nothing moves until the disk does.
      await until(() => disk.waitingCount >= 1, 'a flush waits for its fsync');
      const durable = timeline.diskConsistentLsn;
      assert.is(await settled(waiting, 30), 'pending', 'ingest stays blocked while the flush cannot finish');
      assert.is(timeline.diskConsistentLsn, durable);
      // Each released fsync may be followed by another flush's: release until ingest resumes.
      const tracked = track(waiting);
      for (let round = 0; round < 10 && tracked.state === 'pending'; round++) {
        disk.release();
        await until(() => tracked.state !== 'pending' || disk.waitingCount >= 1, 'the wait ends or the next fsync is held');
      }
      assert.is(tracked.state, 'resolved', 'ingest resumes once the flush is durable');
      assert.ok(timeline.inMemoryBytes <= BUDGET_BYTES, `below the bound after the wait (${timeline.inMemoryBytes})`);
    }
    assert.ok(waits >= 5, `ingest had to wait for flushes (${waits} times)`);
    // A batch charges at most a new 256 KiB decoder buffer and a new 1 MiB slab (for records that
    // cross two page boundaries, as some of these images do), plus its index entries.
    assert.ok(batchBytesMax <= MESSAGE_BYTES + 256 * 1024 + 1024 * 1024 + 16 * 1024, `one batch charges its WAL and at most one new decoder buffer and slab (${batchBytesMax})`);
    assert.ok(peakBytes <= BUDGET_BYTES + batchBytesMax, `in memory at most the bound plus one batch: peak ${peakBytes}, bound ${BUDGET_BYTES}, batch ${batchBytesMax}`);
    disk.held = false;
    disk.release();
    const last = timeline.lastRecordLsn;
    // A flush may be in flight (it covers what was frozen when it started): flush until done.
    for (let round = 0; round < 3 && timeline.diskConsistentLsn < last; round++) await timeline.flush();
    assert.is(timeline.diskConsistentLsn, last, 'everything ingested is durable at the end');
    assert.ok(store.layerFileNames.length >= bytes.length / BUDGET_BYTES, `flushed in many files (${store.layerFileNames.length})`);
    for (const [block, fill] of fillOfBlock) {
      const data = await store.getReconstructData(relBlockKey({ ...rel, forkNumber: 0 }, block), last);
      assert.is(data?.image?.bytes[150], fill, `block ${block} holds its last image`);
    }
    await timeline.close();
    capture.assertClean();
  }));

test('a flush failing while ingest waits rejects the wait; the next wait retries the frozen layer', () =>
  withTempDirectory(async (directory) => {
    const disk = new HeldFsync();
    // Budget = distance: ingest blocks as soon as anything is open beside a layer being flushed,
    // so after the failure the open layer is below the distance and the retry is for memory.
    const { capture, store, timeline } = await harness(directory, disk, DISTANCE_BYTES, [/flush of in-memory layer failed/]);
    const { bytes } = fpiWal(300);
    const decoding = new InlineWalDecoding(START);
    let waiting: Promise<void> | undefined;
    for (let offset = 0; offset < bytes.length && waiting === undefined; offset += MESSAGE_BYTES) {
      await timeline.ingestPacked(await decoding.decode(bytes.subarray(offset, Math.min(bytes.length, offset + MESSAGE_BYTES))));
      const wait = timeline.waitForMemory();
      if ((await settled(wait)) === 'pending') waiting = wait;
    }
    assert.ok(waiting !== undefined, 'ingest got blocked');
    await until(() => disk.waitingCount >= 1, 'a flush waits for its fsync');
    disk.failNext = true;
    disk.release();
    assert.is(await settled(waiting!, 5_000), 'rejected', 'the failed flush fails the wait');
    assert.ok(store.frozenLayerBytes > 0, 'the frozen layer stays, to be retried');
    disk.held = false;
    await timeline.waitForMemory();
    assert.is(store.frozenLayerBytes, 0, 'the retry wrote it');
    assert.ok(timeline.inMemoryBytes <= DISTANCE_BYTES);
    assert.ok(capture.lines.some((line) => line.msg === 'flushing in-memory layer' && line.reason === 'memory'),
      'the retry is a flush for memory (nothing past the distance was open)');
    await timeline.close();
    capture.assertClean();
  }));

test.run();
