/**
 * `strata waldump`: the exact pg_waldump line layout, record type names as PG15 spells them, and
 * the segment-file reader (file names, gaps, a partial last segment).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { recordTypeName } from '../../../src/wal/record-names.js';
import { parseWalFileName, readWalFiles } from '../../../src/wal/segment-reader.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { formatRecordLine, runWaldump } from '../../../src/wal/waldump.js';
import { filler, WalBuilder } from './wal-builder.js';

const SEGMENT = 16 * 1024 * 1024;

test('record type names follow PG15 pg_waldump, including +INIT and UNKNOWN', () => {
  assert.is(recordTypeName(0, 0x00), 'CHECKPOINT_SHUTDOWN');
  assert.is(recordTypeName(0, 0xa0), 'FPI_FOR_HINT');
  assert.is(recordTypeName(1, 0x80), 'COMMIT'); // XLOG_XACT_HAS_INFO is not part of the name
  assert.is(recordTypeName(1, 0x30), 'COMMIT_PREPARED');
  assert.is(recordTypeName(4, 0x10), 'CREATE_WAL_LOG');
  assert.is(recordTypeName(9, 0xd0), 'MULTI_INSERT+INIT');
  assert.is(recordTypeName(10, 0x80), 'INSERT+INIT');
  assert.is(recordTypeName(10, 0xc0), 'HOT_UPDATE+INIT');
  assert.is(recordTypeName(10, 0x50), 'HEAP_CONFIRM');
  assert.is(recordTypeName(11, 0xe0), 'META_CLEANUP');
  assert.is(recordTypeName(17, 0xa0), 'UPDATE+INIT');
  assert.is(recordTypeName(20, 0x30), 'Generic');
  assert.is(recordTypeName(13, 0x00), 'UNKNOWN (0)');
  assert.is(recordTypeName(10, 0x0f), 'INSERT', 'the low four bits belong to the WAL machinery');
});

test('a record prints in pg_waldump layout with padded columns and block references', () => {
  const start = 0x150c000;
  const wal = new WalBuilder(start, { prevLsn: 0x150bf80 });
  wal.add({
    rmgr: 10, info: 0, xid: 735,
    blocks: [
      { id: 0, rel: { spcNode: 1663, dbNode: 5, relNode: 16384 }, block: 0, data: filler(6) },
      { id: 1, fork: 2, rel: { spcNode: 1663, dbNode: 5, relNode: 16384 }, block: 4, image: { bytes: filler(8192), holeOffset: 0, holeLength: 0, info: 0x02 } },
    ],
    mainData: filler(3),
  });
  const decoder = new WalStreamDecoder(start);
  decoder.feed(wal.bytes());
  const record = decoder.next()!;
  assert.is(
    formatRecordLine(record),
    `rmgr: Heap        len (rec/tot):     ${record.totalLength - 8192}/${String(record.totalLength).padStart(6)}, tx:        735, ` +
      'lsn: 0/0150C018, prev 0/0150BF80, desc: INSERT , blkref #0: rel 1663/5/16384 blk 0, ' +
      'blkref #1: rel 1663/5/16384 fork vm blk 4 FPW',
  );
  assert.is(formatRecordLine(record, () => 'off 3 flags 0x00'), formatRecordLine(record).replace('INSERT ,', 'INSERT off 3 flags 0x00,'));
});

test('segment file names give the start LSN; other names are rejected', () => {
  assert.is(parseWalFileName('/x/000000010000000200000003').startLsn, 2 * 0x1_0000_0000 + 3 * SEGMENT);
  assert.is(parseWalFileName('000000020000000000000004.partial').timelineId, 2);
  try {
    parseWalFileName('00000001000000000000000G');
    assert.unreachable('accepted a bad name');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'));
  }
});

async function withSegments(action: (directory: string, wal: WalBuilder) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-waldump-'));
  try {
    const wal = new WalBuilder(2 * SEGMENT);
    for (let index = 0; index < 2200; index++) wal.add({ rmgr: 10, info: 0, xid: index, mainData: filler(8000, index) });
    const bytes = wal.bytes();
    assert.ok(bytes.length > SEGMENT, 'the WAL fills more than one segment');
    const first = new Uint8Array(SEGMENT);
    first.set(bytes.subarray(0, SEGMENT));
    await writeFile(join(directory, '000000010000000000000002'), first);
    await writeFile(join(directory, '000000010000000000000003.partial'), bytes.subarray(SEGMENT));
    await action(directory, wal);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

test('segment files decode across the boundary and stop cleanly at the end of a partial segment', async () => {
  await withSegments(async (directory, wal) => {
    const files = [join(directory, '000000010000000000000003.partial'), join(directory, '000000010000000000000002')];
    const lsns: number[] = [];
    for await (const record of readWalFiles(files)) lsns.push(record.lsn);
    assert.equal(lsns, wal.recordLsns);
    let text = '';
    const out = new Writable({ write(chunk, _encoding, callback) { text += String(chunk); callback(); } });
    assert.is(await runWaldump(files, out), wal.recordLsns.length);
    assert.is(text.split('\n').filter(Boolean).length, wal.recordLsns.length);
    assert.ok(text.startsWith('rmgr: Heap        len (rec/tot):   8029/  8029, tx:          0, lsn: 0/02000028, prev 0/00000000, desc: INSERT '));
  });
});

test('a gap between segment files is an error', async () => {
  await withSegments(async (directory) => {
    await writeFile(join(directory, '000000010000000000000005'), new Uint8Array(0));
    const files = ['000000010000000000000002', '000000010000000000000005'].map((name) => join(directory, name));
    try {
      for await (const record of readWalFiles(files)) assert.ok(record);
      assert.unreachable('gap accepted');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST') && /missing/.test(error.message), String(error));
    }
  });
});

test.run();
