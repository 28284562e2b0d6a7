/**
 * Regressions found by the crash simulation (crash-simulation.test.ts), replayed deterministically
 * on the simulated disk with a wrapper that fails chosen operations:
 *
 *  - a failed unlink or directory fsync while GC or compaction deletes layer files escaped as a
 *    raw fs Error; the store's callers expect every operating error coded (PS_ERR_IO);
 *  - a compaction that failed after publishing some outputs left them beside its marker; the next
 *    compaction overwrote the marker, and a restart without the marker took the partial outputs
 *    for finished ones and deleted their L0 inputs: the versions the outputs did not hold were lost.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';
import type { Fs, FsFileHandle } from '../../../src/storage/fs.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { SimulatedDisk } from '../../../src/storage/sim-fs.js';
import type { ReconstructData } from '../../../src/value.js';
import { blockKey, image, record, seededRandom } from './storage-harness.js';

const DIRECTORY = '/sim/timeline';

/** Which operations fail (EIO): unlink from now on; the N-th directory fsync or write from now. */
interface Failures {
  unlink?: boolean;
  syncDirectory?: number;
  write?: number;
}

function failing(fs: Fs, failures: Failures): Fs {
  const eio = (what: string) => Object.assign(new Error(`EIO: injected failure of ${what}`), { code: 'EIO' });
  const wrap = (handle: FsFileHandle): FsFileHandle => ({
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write(buffer, offset, length, position) {
      if (failures.write !== undefined && --failures.write === 0) return Promise.reject(eio('write'));
      return handle.write(buffer, offset, length, position);
    },
    sync: () => handle.sync(),
    size: () => handle.size(),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => wrap(await fs.open(path, mode)),
    rename: (source, target) => fs.rename(source, target),
    unlink: (path) => (failures.unlink === true ? Promise.reject(eio('unlink')) : fs.unlink(path)),
    readdir: (path) => fs.readdir(path),
    mkdirRecursive: (path) => fs.mkdirRecursive(path),
    syncDirectory(path) {
      if (failures.syncDirectory !== undefined && --failures.syncDirectory === 0) return Promise.reject(eio('syncDirectory'));
      return fs.syncDirectory(path);
    },
  };
}

function open(fs: Fs): Promise<LayeredTimelineStore> {
  return LayeredTimelineStore.open({ directory: DIRECTORY, logger: silentLogger(), fs, flushThread: 'inline', flushSliceMs: Infinity });
}

/** Two L0 files of 12 keys, then what every key reads at LSN 1000. */
async function twoLevel0Files(store: LayeredTimelineStore): Promise<Map<number, ReconstructData | undefined>> {
  for (let block = 0; block < 12; block++) store.put(blockKey(block), 100 + block, image(block, 64));
  await store.flush(200);
  for (let block = 0; block < 12; block++) store.put(blockKey(block), 300 + block, record(block, false, 40));
  await store.flush(400);
  const expected = new Map<number, ReconstructData | undefined>();
  for (let block = 0; block < 12; block++) expected.set(block, await store.getReconstructData(blockKey(block), 1000));
  return expected;
}

async function expectReads(store: LayeredTimelineStore, expected: Map<number, ReconstructData | undefined>, label: string): Promise<void> {
  for (const [block, data] of expected) assert.equal(await store.getReconstructData(blockKey(block), 1000), data, `${label}: block ${block}`);
}

function expectCodedIoError(error: unknown): void {
  assert.instance(error, StrataError);
  assert.is((error as StrataError).code, 'PS_ERR_IO');
}

test('a failed layer deletion in compaction or GC is a PS_ERR_IO, and reads go on', async () => {
  const disk = new SimulatedDisk({ random: seededRandom(1), unsyncedWrites: 'drop', unsyncedDirectoryChanges: 'drop' });
  const failures: Failures = {};
  const store = await open(failing(disk.mount(), failures));
  const expected = await twoLevel0Files(store);
  failures.unlink = true;
  await store.compactLevel0({ threshold: 2, targetFileBytes: 400 }).then(() => assert.unreachable('the marker unlink fails'), expectCodedIoError);
  await expectReads(store, expected, 'after a failed marker removal');
  failures.unlink = false;
  await store.compactLevel0({ threshold: 2, targetFileBytes: 400 });
  assert.is(store.l0Count, 0);
  await store.writeImageLayer(400, '0'.repeat(36), 'f'.repeat(36), (async function* () {
    for (let block = 0; block < 12; block++) yield [blockKey(block), new Uint8Array(8).fill(block)] as const;
  })());
  for (let block = 0; block < 12; block++) expected.set(block, { image: { lsn: 400, bytes: new Uint8Array(8).fill(block) }, records: [] });
  failures.syncDirectory = 1;
  await store.gc({ horizonCutoffLsn: 400, pitrCutoffLsn: 400, retainLsns: [] }).then(() => assert.unreachable('the directory fsync fails'), expectCodedIoError);
  await expectReads(store, expected, 'after a failed GC deletion');
  await store.close();
});

test('a compaction that failed part-way leaves nothing a later restart takes for finished outputs', async () => {
  const disk = new SimulatedDisk({ random: seededRandom(2), unsyncedWrites: 'drop', unsyncedDirectoryChanges: 'drop' });
  const failures: Failures = {};
  let store = await open(failing(disk.mount(), failures));
  const expected = await twoLevel0Files(store);
  // Fsyncs of the directory: the marker's, then one per output; the second output's fails.
  failures.syncDirectory = 3;
  await store.compactLevel0({ threshold: 2, targetFileBytes: 300 }).then(() => assert.unreachable('the second output fails'), expectCodedIoError);
  store.put(blockKey(0), 500, record(50, false, 40));
  await store.flush(500);
  expected.set(0, await store.getReconstructData(blockKey(0), 1000));
  // Writes: the new marker's (it replaces the one naming the partial outputs), then the first output's.
  failures.write = 2;
  await store.compactLevel0({ threshold: 2, targetFileBytes: 300 }).then(() => assert.unreachable('the retry fails after its marker'), expectCodedIoError);
  await expectReads(store, expected, 'after two failed compactions');
  for (let restart = 0; restart < 2; restart++) {
    disk.crash();
    store = await open(disk.mount());
    await expectReads(store, expected, `after restart ${restart + 1}`);
  }
  await store.close();
});

test.run();
