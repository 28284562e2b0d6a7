/**
 * The full-backup builder without a server: which files a manifest becomes and where (databases,
 * global, user tablespaces in place or mapped, segment files past 1 GiB, unlogged relations as
 * crash recovery leaves them, SLRUs, two-phase files with their CRC), that pages come in runs of
 * at most 32 that span small relations, that pg_control is written last, and that a source
 * failure fails the backup without a pg_control.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFullbackup, type BackupSink, type BackupSource } from '../../../src/backup/fullbackup.js';
import { DirectoryBackupSink, TarBackupSink } from '../../../src/backup/sinks.js';
import type { BackupManifest, PageRun } from '../../../src/backup/types.js';
import { CONTROL_FILE_CHECKPOINT_OFFSET } from '../../../src/wal/records/xlog.js';
import { CHECKPOINT_BYTES } from '../../../src/backup/checkpoint.js';
import { readControlFileInfo } from '../../../src/backup/control-file.js';
import { readTar } from '../../../src/ingest/tar.js';
import { SlruKind } from '../../../src/keys.js';
import { crc32c } from '../../../src/wal/crc32c.js';
import { realControlFile, REAL_CATALOG_VERSION } from '../../fixtures/pg15-control-file.js';

const LSN = 0x3000123;

function manifest(): BackupManifest {
  const control = realControlFile();
  return {
    lsn: LSN,
    controlFile: control,
    checkpoint: control.slice(CONTROL_FILE_CHECKPOINT_OFFSET, CONTROL_FILE_CHECKPOINT_OFFSET + CHECKPOINT_BYTES),
    databases: [
      { spcNode: 1664, dbNode: 0, relmap: new Uint8Array(512).fill(1) },
      { spcNode: 1663, dbNode: 5, relmap: new Uint8Array(512).fill(2) },
      { spcNode: 16400, dbNode: 16401, relmap: new Uint8Array(512).fill(3) },
      { spcNode: 16400, dbNode: 5, relmap: undefined },
    ],
    relations: [
      { spcNode: 1664, dbNode: 0, relNode: 1262, forkNumber: 0, blocks: 1 },
      { spcNode: 1663, dbNode: 5, relNode: 1259, forkNumber: 0, blocks: 3 },
      { spcNode: 1663, dbNode: 5, relNode: 1259, forkNumber: 1, blocks: 3 },
      { spcNode: 1663, dbNode: 5, relNode: 1259, forkNumber: 2, blocks: 1 },
      { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 0, blocks: 64 + 40 },
      { spcNode: 1663, dbNode: 5, relNode: 16390, forkNumber: 0, blocks: 0 },
      // An unlogged table: main and fsm from before, its init fork.
      { spcNode: 1663, dbNode: 5, relNode: 16395, forkNumber: 0, blocks: 9 },
      { spcNode: 1663, dbNode: 5, relNode: 16395, forkNumber: 1, blocks: 3 },
      { spcNode: 1663, dbNode: 5, relNode: 16395, forkNumber: 3, blocks: 1 },
      { spcNode: 16400, dbNode: 16401, relNode: 16500, forkNumber: 0, blocks: 2 },
      { spcNode: 16400, dbNode: 5, relNode: 16600, forkNumber: 0, blocks: 1 },
    ],
    slruSegments: [{ kind: SlruKind.Clog, segment: 0, blocks: 2 }, { kind: SlruKind.MultiXactOffsets, segment: 0x1a, blocks: 1 }],
    twoPhase: [{ xid: 0x2f1, state: new Uint8Array([9, 8, 7, 6, 5]) }],
  };
}

/** A page that says which page it is: relNode, fork, block in its first 12 bytes. */
function pageOf(relNode: number, fork: number, block: number): Uint8Array {
  const page = new Uint8Array(8192);
  const view = new DataView(page.buffer);
  view.setUint32(0, relNode, true);
  view.setUint32(4, fork, true);
  view.setUint32(8, block, true);
  return page;
}

function source(options: { failAt?: number } = {}): BackupSource & { runs: PageRun[][] } {
  const runs: PageRun[][] = [];
  return {
    runs,
    manifest: async () => manifest(),
    readPageRuns: async (batch) => {
      runs.push([...batch]);
      if (options.failAt !== undefined && runs.length === options.failAt) throw new Error('source failed');
      const pages = batch.reduce((sum, run) => sum + run.count, 0);
      const out = new Uint8Array(pages * 8192);
      let slot = 0;
      for (const run of batch) for (let index = 0; index < run.count; index++) out.set(pageOf(run.rel.relNode, run.rel.forkNumber, run.firstBlock + index), 8192 * slot++);
      return out;
    },
    readSlruSegment: async (kind, segment) => new Uint8Array((kind === SlruKind.Clog ? 2 : 1) * 8192).fill(segment + 1),
  };
}

async function withDirectory(run: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-fullbackup-unit-'));
  try { await run(directory); } finally { await rm(directory, { recursive: true, force: true }); }
}

test('a manifest becomes a data directory: databases, tablespaces, segments, unlogged, SLRUs, two-phase, pg_control', () => withDirectory(async (root) => {
  const data = join(root, 'data');
  const from = source();
  const summary = await buildFullbackup(from, new DirectoryBackupSink(data), { nowSeconds: 1_800_000_000, segmentBlocks: 64 });
  const version = `PG_15_${REAL_CATALOG_VERSION}`;
  const size = async (path: string) => (await stat(join(data, path))).size;
  assert.is(await size('global/1262'), 8192);
  assert.is(await size('base/5/1259'), 3 * 8192);
  assert.is(await size('base/5/1259_fsm'), 3 * 8192);
  assert.is(await size('base/5/1259_vm'), 8192);
  assert.is(await size('base/5/16384'), 64 * 8192, 'a fork past RELSEG_SIZE is cut into segment files');
  assert.is(await size('base/5/16384.1'), 40 * 8192);
  assert.is(await size('base/5/16390'), 0, 'an empty fork is an empty file');
  assert.is(await size('base/5/16395_init'), 8192);
  assert.is(await size('base/5/16395'), 8192, 'an unlogged main fork is a copy of its init fork');
  assert.ok(!(await readdir(join(data, 'base/5'))).includes('16395_fsm'), 'an unlogged relation keeps no other fork');
  const unloggedMain = await readFile(join(data, 'base/5/16395'));
  assert.equal([unloggedMain.readUInt32LE(0), unloggedMain.readUInt32LE(4)], [16395, 3], 'read from the init fork');
  assert.is(await size(`pg_tblspc/16400/${version}/16401/16500`), 2 * 8192, 'a user tablespace goes in place');
  assert.is(await size(`pg_tblspc/16400/${version}/5/16600`), 8192);
  assert.equal([...await readFile(join(data, `pg_tblspc/16400/${version}/16401/pg_filenode.map`))].slice(0, 2), [3, 3]);
  assert.is((await readFile(join(data, `pg_tblspc/16400/${version}/16401/PG_VERSION`), 'utf8')), '15\n');
  assert.not.ok((await readdir(join(data, `pg_tblspc/16400/${version}/5`))).includes('PG_VERSION'), 'no PG_VERSION where the database has no map');
  assert.is((await readFile(join(data, 'base/5/PG_VERSION'), 'utf8')), '15\n');
  assert.equal([...await readFile(join(data, 'global/pg_filenode.map'))].slice(0, 2), [1, 1]);
  assert.is(await size('pg_xact/0000'), 2 * 8192);
  assert.is(await size('pg_multixact/offsets/001A'), 8192);
  const twoPhase = await readFile(join(data, 'pg_twophase/000002F1'));
  assert.equal([...twoPhase.subarray(0, 5)], [9, 8, 7, 6, 5]);
  assert.is(twoPhase.readUInt32LE(5), crc32c(new Uint8Array([9, 8, 7, 6, 5]), 0, 5), 'a two-phase file ends with the CRC-32C of its state');
  for (const directory of ['pg_wal/archive_status', 'pg_subtrans', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_replslot', 'pg_logical/snapshots', 'pg_commit_ts', 'pg_stat']) {
    assert.ok((await stat(join(data, directory))).isDirectory(), directory);
  }
  const control = readControlFileInfo(await readFile(join(data, 'global/pg_control')));
  assert.is(control.checkpointLocation, summary.checkpointLsn);
  assert.ok(summary.checkpointLsn >= LSN && summary.checkpointLsn - LSN < 8192 + 40, 'the checkpoint sits at the first record position at or after the LSN');
  assert.is(await size(`pg_wal/00000001${'00000000'}${'00000003'}`), 16 * 1024 * 1024);
  assert.match(await readFile(join(data, 'postgresql.conf'), 'utf8'), /max_connections = \d+/);
  // Runs: at most 32 pages, small relations share one.
  assert.ok(from.runs.every((batch) => batch.reduce((sum, run) => sum + run.count, 0) <= 32));
  assert.ok(from.runs[0]!.length > 1, 'the first run spans several small forks');
  assert.is(summary.relationPages, 1 + 3 + 3 + 1 + 104 + 1 + 1 + 2 + 1);
  console.log(`  ${summary.files} files, ${summary.relationPages} relation pages in ${from.runs.length} runs`);
}));

test('mapped tablespaces: a symlink in pg_tblspc, the files under the mapping', () => withDirectory(async (root) => {
  const data = join(root, 'data');
  const mapped = join(root, 'elsewhere');
  await buildFullbackup(source(), new DirectoryBackupSink(data), { tablespaceMapping: new Map([[16400, mapped]]), segmentBlocks: 64 });
  assert.is(await readlink(join(data, 'pg_tblspc/16400')), mapped);
  assert.is((await stat(join(mapped, `PG_15_${REAL_CATALOG_VERSION}/16401/16500`))).size, 2 * 8192);
}));

test('a tar holds the same files, pg_control last; a mapping is refused for a tar', async () => {
  const chunks: Uint8Array[] = [];
  const sink: BackupSink = new TarBackupSink(async (bytes) => { chunks.push(bytes.slice()); });
  await buildFullbackup(source(), sink, { segmentBlocks: 64 });
  const files: string[] = [];
  for await (const event of readTar((async function* () { yield* chunks; })())) if (event.kind === 'entry' && event.entry.type === 'file') files.push(event.entry.path);
  assert.is(files.at(-1), 'global/pg_control');
  assert.ok(files.includes('base/5/16384.1'));
  try {
    await buildFullbackup(source(), new TarBackupSink(async () => undefined), { tablespaceMapping: new Map([[16400, '/x']]) });
    assert.unreachable('a tar cannot map tablespaces');
  } catch (error) {
    assert.match((error as Error).message, /tablespace mapping needs a directory backup/);
  }
});

test('a failing source fails the backup, and no pg_control is written', () => withDirectory(async (root) => {
  const data = join(root, 'data');
  try {
    await buildFullbackup(source({ failAt: 2 }), new DirectoryBackupSink(data), { segmentBlocks: 64 });
    assert.unreachable('the backup fails');
  } catch (error) {
    assert.match((error as Error).message, /source failed/);
  }
  assert.not.ok((await readdir(join(data, 'global'))).includes('pg_control'));
}));

test.run();
