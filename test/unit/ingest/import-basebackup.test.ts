// Base backup import from a plain directory and from tar archives (main + tablespace): relation
// pages, segment files, sizes, directories, SLRU pages, pg_control + checkpoint, relmapper files,
// two-phase state; skipped files stay out of the store; both sources give the same values.
// Into a LayeredTimelineStore the import streams into image layers: the same keys and values as
// the put import (metadata included), non-overlapping files, whatever the archive order; a file
// given twice is a coded error that leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, SlruKind, relBlockKey, relmapFileKey, slruBlockKey, twoPhaseFileKey } from '../../../src/keys.js';
import { silentLogger } from '../../../src/observability/log.js';
import { importBaseBackup, importBaseBackupDirectory, classifyBackupPath } from '../../../src/ingest/import-basebackup.js';
import { getRelSize, getSlruSegmentSize, listDatabases, listRelations, listSlruSegments, listTwoPhaseXids } from '../../../src/ingest/metadata-readers.js';
import { isStrataError } from '../../../src/errors.js';
import { isTempFileName } from '../../../src/storage/crashsafe.js';
import { KEY_SPACE_END, KEY_SPACE_START, parseLayerName } from '../../../src/storage/layer-name.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { MemoryStore } from '../../helpers/memory-store.js';

const LSN = 0x2000028;

function pages(count: number, seed: number): Buffer {
  const bytes = Buffer.alloc(count * 8192);
  for (let index = 0; index < count; index++) bytes.fill(seed + index, index * 8192, (index + 1) * 8192);
  return bytes;
}

function makeDataDirectory(): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-backup-'));
  const file = (path: string, content: Buffer | string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  file('base/5/16384', pages(2, 10));
  file('base/5/16384_fsm', pages(3, 20));
  file('base/5/16384.1', pages(1, 30));
  file('base/5/16390_init', Buffer.alloc(0));
  file('base/5/pg_filenode.map', Buffer.alloc(512, 5));
  file('base/5/PG_VERSION', '15\n');
  file('base/6/PG_VERSION', '15\n');
  file('global/1262', pages(1, 40));
  file('global/pg_control', Buffer.from(pages(1, 50).map((_, index) => index & 0xff)));
  file('global/pg_filenode.map', Buffer.alloc(512, 1));
  file('pg_xact/0000', pages(2, 60));
  file('pg_multixact/offsets/0000', pages(1, 70));
  file('pg_multixact/members/0001', pages(1, 80));
  file('pg_twophase/000001F4', Buffer.from([1, 2, 3, 4, 9, 9, 9, 9]));
  file('postgresql.conf', 'fsync = off\n');
  file('pg_wal/000000010000000000000002', pages(1, 90));
  file('base/5/t3_99999', pages(1, 99));
  return root;
}

async function checkStore(store: MemoryStore) {
  const main = { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 0 };
  assert.is(await getRelSize(store, main, LSN), 131072 + 1, 'segment .1 adds to the size');
  assert.is(store.getReconstructDataSync(relBlockKey(main, 1), LSN)?.image?.bytes[0], 11);
  assert.is(store.getReconstructDataSync(relBlockKey(main, 131072), LSN)?.image?.bytes[0], 30);
  assert.is(await getRelSize(store, { ...main, forkNumber: 1 }, LSN), 3);
  assert.is(await getRelSize(store, { ...main, relNode: 16390, forkNumber: 3 }, LSN), 0);
  assert.equal((await listRelations(store, 1663, 5, LSN)).map((tag) => `${tag.relNode}/${tag.forkNumber}`), ['16384/0', '16384/1', '16390/3']);
  assert.equal((await listDatabases(store, LSN)).filter((entry) => entry.spcNode !== 16999), [{ spcNode: 1663, dbNode: 5 }, { spcNode: 1663, dbNode: 6 }, { spcNode: 1664, dbNode: 0 }]);
  assert.is(await getRelSize(store, { spcNode: 1664, dbNode: 0, relNode: 1262, forkNumber: 0 }, LSN), 1);
  const control = store.getReconstructDataSync(CONTROL_FILE_KEY, LSN)?.image?.bytes;
  assert.is(control?.length, 8192);
  assert.equal([...(store.getReconstructDataSync(CHECKPOINT_KEY, LSN)?.image?.bytes ?? [])], [...control!.subarray(40, 128)]);
  assert.is(store.getReconstructDataSync(relmapFileKey(1664, 0), LSN)?.image?.bytes[0], 1);
  assert.is(store.getReconstructDataSync(relmapFileKey(1663, 5), LSN)?.image?.bytes[0], 5);
  assert.is(store.getReconstructDataSync(slruBlockKey(SlruKind.Clog, 0, 1), LSN)?.image?.bytes[0], 61);
  assert.equal(await listSlruSegments(store, SlruKind.Clog, LSN), [0]);
  assert.is(await getSlruSegmentSize(store, SlruKind.Clog, 0, LSN), 2);
  assert.equal(await listSlruSegments(store, SlruKind.MultiXactMembers, LSN), [1]);
  assert.equal(await listTwoPhaseXids(store, LSN), [500]);
  assert.equal([...(store.getReconstructDataSync(twoPhaseFileKey(500), LSN)?.image?.bytes ?? [])], [1, 2, 3, 4]);
}

test('classifies backup paths', () => {
  assert.equal(classifyBackupPath('base/5/16384_vm.3', undefined), { kind: 'relation', tag: { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 2 }, segment: 3 });
  assert.equal(classifyBackupPath('PG_15_202209061/5/17000', 16999), { kind: 'relation', tag: { spcNode: 16999, dbNode: 5, relNode: 17000, forkNumber: 0 }, segment: 0 });
  assert.is(classifyBackupPath('base/5/t3_99999', undefined), undefined);
  assert.is(classifyBackupPath('pg_wal/000000010000000000000002', undefined), undefined);
  assert.is(classifyBackupPath('base/5/pg_internal.init', undefined), undefined);
});

test('imports a plain data directory', async () => {
  const root = makeDataDirectory();
  try {
    const store = new MemoryStore();
    const summary = await importBaseBackupDirectory(store, root, { lsn: LSN, logger: silentLogger() });
    assert.is(summary.relationForks, 4);
    assert.is(summary.relationPages, 2 + 3 + 1 + 1);
    await checkStore(store);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('imports tar archives (main and tablespace) with the same values as the directory', async () => {
  const root = makeDataDirectory();
  const tablespace = mkdtempSync(join(tmpdir(), 'strata-tblspc-'));
  try {
    mkdirSync(join(tablespace, 'PG_15_202209061', '5'), { recursive: true });
    writeFileSync(join(tablespace, 'PG_15_202209061', '5', '17000'), pages(2, 100));
    const mainArchive = execFileSync('tar', ['-C', root, '--format=ustar', '-cf', '-', ...['base', 'global', 'pg_xact', 'pg_multixact', 'pg_twophase', 'postgresql.conf', 'pg_wal']], { maxBuffer: 1 << 26 });
    const tablespaceArchive = execFileSync('tar', ['-C', tablespace, '--format=ustar', '-cf', '-', 'PG_15_202209061'], { maxBuffer: 1 << 26 });
    const store = new MemoryStore();
    async function* archives() {
      yield { tablespaceOid: undefined, chunks: (async function* () { for (let offset = 0; offset < mainArchive.length; offset += 3000) yield mainArchive.subarray(offset, offset + 3000); })() };
      yield { tablespaceOid: 16999, chunks: (async function* () { yield tablespaceArchive; })() };
    }
    await importBaseBackup(store, archives(), { lsn: LSN, logger: silentLogger() });
    await checkStore(store);
    assert.is(await getRelSize(store, { spcNode: 16999, dbNode: 5, relNode: 17000, forkNumber: 0 }, LSN), 2);
    assert.ok((await listDatabases(store, LSN)).some((entry) => entry.spcNode === 16999 && entry.dbNode === 5));
    const directoryStore = new MemoryStore();
    await importBaseBackupDirectory(directoryStore, root, { lsn: LSN, logger: silentLogger() });
    for (const key of directoryStore.keysAt(LSN)) {
      if (!store.versions.has(key)) assert.unreachable(`tar import lacks key ${key}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(tablespace, { recursive: true, force: true });
  }
});

/** Small bounds, so this small backup streams files, splits them, and spills sorted runs. */
const STREAMING = { streamedFileBytesMin: 4 * 8192, sortBufferBytes: 6 * 8192 };
const IMAGE_FILE_BYTES = 16 * 8192;

/** The data directory plus two relation files large enough to stream (one of them split). */
function makeLargerDataDirectory(): string {
  const root = makeDataDirectory();
  writeFileSync(join(root, 'base/5/16500'), pages(40, 110));
  writeFileSync(join(root, 'base/5/16500_vm'), pages(5, 160));
  writeFileSync(join(root, 'base/6/16600'), pages(8, 170));
  for (let index = 0; index < 12; index++) writeFileSync(join(root, `base/6/${17000 + index}`), pages(1 + (index % 3), 180 + index));
  return root;
}

/** Every key of the put import has the same image in the layered store, and nothing else is there. */
async function assertSameValues(layered: LayeredTimelineStore, reference: MemoryStore): Promise<void> {
  const keys = reference.keysAt(LSN);
  assert.equal(await layered.keysInRange(KEY_SPACE_START, KEY_SPACE_END, LSN), keys);
  for (const key of keys) {
    const expected = reference.getReconstructDataSync(key, LSN)?.image?.bytes;
    const actual = (await layered.getReconstructData(key, LSN))?.image?.bytes;
    assert.ok(expected !== undefined && actual !== undefined && Buffer.from(expected).equals(Buffer.from(actual)), `value of ${key}`);
  }
}

function assertImageLayersDisjoint(directory: string): number {
  const ranges = readdirSync(directory).flatMap((fileName) => {
    const name = parseLayerName(fileName);
    if (name === undefined) return [];
    assert.ok(name.kind === 'image' && name.lsn === LSN, `${fileName} is an image layer at the import LSN`);
    return [name];
  }).sort((left, right) => (left.keyStart < right.keyStart ? -1 : 1));
  for (let index = 1; index < ranges.length; index++) assert.ok(ranges[index - 1]!.keyEnd <= ranges[index]!.keyStart, 'image layers do not overlap');
  return ranges.length;
}

async function withLayeredStore<T>(body: (store: LayeredTimelineStore, directory: string, log: LogCapture) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), 'strata-import-store-'));
  const log = new LogCapture([/partial page/]);
  const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: IMAGE_FILE_BYTES });
  try {
    return await body(store, directory, log);
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
    log.assertClean();
  }
}

test('a directory imported into image layers holds exactly the values of the put import', async () => {
  const root = makeLargerDataDirectory();
  try {
    const reference = new MemoryStore();
    const expected = await importBaseBackupDirectory(reference, root, { lsn: LSN, logger: silentLogger(), ...STREAMING });
    await withLayeredStore(async (store, directory, log) => {
      const summary = await importBaseBackupDirectory(store, root, { lsn: LSN, logger: log.logger, ...STREAMING });
      assert.equal({ ...summary, imageLayerFiles: 0, spilledRuns: 0 }, expected);
      assert.is(summary.streamedFiles, 3, 'base/5/16500, base/5/16500_vm and base/6/16600 streamed');
      assert.ok(summary.spilledRuns > 1, `small images spilled: ${summary.spilledRuns} runs`);
      assert.is(store.diskConsistentLsn, LSN);
      assert.is(store.openLayerBytes, 0, 'nothing is left to flush');
      assert.is(assertImageLayersDisjoint(directory), summary.imageLayerFiles);
      assert.ok(summary.imageLayerFiles >= 6, `40 pages split at 16, plus small files: ${summary.imageLayerFiles}`);
      assert.equal(readdirSync(directory).filter(isTempFileName), []);
      await assertSameValues(store, reference);
      await checkStoreAsync(store);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** checkStore's metadata questions, asked through the store interface. */
async function checkStoreAsync(store: LayeredTimelineStore): Promise<void> {
  const main = { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 0 };
  assert.is(await getRelSize(store, main, LSN), 131072 + 1);
  assert.is(await getRelSize(store, { ...main, relNode: 16500 }, LSN), 40);
  assert.is(await getRelSize(store, { ...main, relNode: 16500, forkNumber: 2 }, LSN), 5);
  assert.equal((await listRelations(store, 1663, 6, LSN)).length, 13);
  assert.equal(await listTwoPhaseXids(store, LSN), [500]);
  assert.is(await getSlruSegmentSize(store, SlruKind.Clog, 0, LSN), 2);
}

/** A ustar archive of `paths` in that order; a path given twice is stored twice (not as a link). */
function tarOf(root: string, paths: string[]): Buffer {
  return execFileSync('tar', ['-C', root, '--format=ustar', '--hard-dereference', '-cf', '-', ...paths], { maxBuffer: 1 << 26 });
}

async function* oneArchive(archive: Buffer, chunkBytes: number) {
  yield { tablespaceOid: undefined, chunks: (async function* () { for (let offset = 0; offset < archive.length; offset += chunkBytes) yield archive.subarray(offset, offset + chunkBytes); })() };
}

test('a tar in no key order imports into the same image layers as the put import', async () => {
  const root = makeLargerDataDirectory();
  try {
    // Files in descending key order, relation segments and forks apart, SLRUs and pg_control between.
    const order = ['base/6', 'pg_xact', 'base/5/16500_vm', 'global', 'base/5/16384.1', 'base/5/pg_filenode.map', 'base/5/16500',
      'pg_multixact', 'base/5/16384_fsm', 'base/5/16390_init', 'pg_twophase', 'base/5/16384', 'base/5/PG_VERSION', 'postgresql.conf'];
    const archive = tarOf(root, order);
    const reference = new MemoryStore();
    const expected = await importBaseBackup(reference, oneArchive(archive, 7000), { lsn: LSN, logger: silentLogger(), ...STREAMING });
    await withLayeredStore(async (store, directory, log) => {
      const summary = await importBaseBackup(store, oneArchive(archive, 7000), { lsn: LSN, logger: log.logger, ...STREAMING });
      assert.equal({ ...summary, imageLayerFiles: 0, spilledRuns: 0 }, expected);
      assert.is(summary.streamedFiles, 3);
      assertImageLayersDisjoint(directory);
      await assertSameValues(store, reference);
      await checkStoreAsync(store);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

for (const [what, path] of [['streamed', 'base/5/16500'], ['small', 'base/5/16384_fsm']] as const) {
  test(`a ${what} file given twice is PS_ERR_BAD_REQUEST, and the import leaves nothing behind`, async () => {
    const root = makeLargerDataDirectory();
    try {
      const archive = tarOf(root, ['global', path, 'base/6', path]);
      await withLayeredStore(async (store, directory, log) => {
        const error = await importBaseBackup(store, oneArchive(archive, 65536), { lsn: LSN, logger: log.logger, ...STREAMING })
          .then(() => undefined, (caught: unknown) => caught);
        assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(error));
        assert.equal(readdirSync(directory).filter((name) => isTempFileName(name) || parseLayerName(name) !== undefined), []);
        assert.equal(store.layerFileNames, []);
        assert.is(store.diskConsistentLsn, 0);
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test.run();
