/**
 * PageReplayer, the recovery loop of the redo benchmark: images restore pages, blocks without a
 * known base are counted and skipped, records without a redo routine are counted per rmgr (and
 * the page forgotten), partitions split the blocks between replayers without overlap and by work
 * (hot pages apart), and pages go back to their pool for the next replay.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { decodeXLogRecord } from '../../../src/wal/xlog-record.js';
import { PagePool, PageReplayer } from '../../../src/walredo/replay.js';
import { appliedPageImage, buildRecord, filler, type BlockSpec } from '../wal/wal-builder.js';

let lsn = 0x1000000;

function record(rmgr: number, info: number, blocks: BlockSpec[]): DecodedRecord {
  const bytes = buildRecord({ rmgr, info, blocks, mainData: filler(4) }, lsn);
  const start = lsn;
  lsn += (bytes.length + 7) & ~7;
  return decodeXLogRecord(bytes, start, start + bytes.length);
}


test('images restore pages; blocks without a base are skipped; unsupported records are counted', () => {
  const replayer = new PageReplayer();
  replayer.apply(record(0, 0xb0, [{ id: 0, block: 1, image: appliedPageImage(7) }]));
  // XLOG records other than full-page images have no redo routine (rmgr-table.ts).
  replayer.apply(record(0, 0x30, [{ id: 0, block: 1, data: filler(8) }, { id: 1, block: 2, data: filler(8) }]));
  replayer.apply(record(0, 0x30, [{ id: 0, block: 1, data: filler(8) }]));
  const stats = replayer.stats;
  assert.is(stats.records, 3);
  assert.is(stats.restored, 1);
  assert.is(stats.noBase, 2, 'block 2 had no base; block 1 was forgotten after its unsupported record');
  assert.equal(stats.unsupported, { XLOG: 1 });
  assert.is(stats.failed, 0);
});

test('partitions split the blocks between replayers: each block is replayed exactly once', () => {
  const replayers = [0, 1, 2].map((partition) => new PageReplayer({ partition, partitions: 3 }));
  const records = Array.from({ length: 30 }, (_, block) => record(0, 0xb0, [{ id: 0, block, image: appliedPageImage(block) }]));
  for (const replayer of replayers) for (const each of records) replayer.apply(each);
  const restored = replayers.map((replayer) => replayer.stats.restored);
  assert.is(restored.reduce((sum, count) => sum + count, 0), 30);
  assert.ok(restored.every((count) => count > 0), `every partition got blocks: ${restored.join(',')}`);
  assert.ok(replayers.every((replayer) => replayer.stats.records === 30));
});

test('shares are given by work: two hot pages land in different shares, and the work evens out', () => {
  const replayers = [0, 1].map((partition) => new PageReplayer({ partition, partitions: 2 }));
  const records: DecodedRecord[] = [];
  // Two hot pages first (as pgbench's branches and tellers pages), then many cold ones.
  records.push(record(0, 0xb0, [{ id: 0, block: 0, image: appliedPageImage(1) }]));
  records.push(record(0, 0xb0, [{ id: 0, block: 1, image: appliedPageImage(2) }]));
  for (let round = 0; round < 40; round++) {
    records.push(record(0, 0xb0, [{ id: 0, block: 0, image: appliedPageImage(round) }]));
    records.push(record(0, 0xb0, [{ id: 0, block: 1, image: appliedPageImage(round) }]));
  }
  for (let block = 2; block < 42; block++) records.push(record(0, 0xb0, [{ id: 0, block, image: appliedPageImage(block) }]));
  for (const replayer of replayers) for (const each of records) replayer.apply(each);
  const [first, second] = replayers.map((replayer) => replayer.stats.restored);
  assert.is(first! + second!, records.length, 'every block was applied by exactly one share');
  assert.ok(first === 41 + 20 && second === 41 + 20, `the hot pages went apart and the cold ones evened it out: ${first}/${second}`);
});

test('release gives every page back to the pool, and the next replay takes those pages again', () => {
  const pool = new PagePool();
  const first = new PageReplayer({ pool });
  for (let block = 0; block < 5; block++) first.apply(record(0, 0xb0, [{ id: 0, block, image: appliedPageImage(block) }]));
  assert.is(first.stats.pagesHeld, 5);
  assert.is(pool.freeCount, 0);
  first.release();
  assert.is(first.stats.pagesHeld, 0);
  assert.is(pool.freeCount, 5);
  const second = new PageReplayer({ pool });
  for (let block = 0; block < 7; block++) second.apply(record(0, 0xb0, [{ id: 0, block, image: appliedPageImage(100 + block) }]));
  assert.is(pool.freeCount, 0, 'the five free pages were taken before new ones were carved');
  assert.is(second.stats.restored, 7);
  assert.is(second.stats.failed, 0);
});

test.run();
