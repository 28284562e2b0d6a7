/**
 * The replay pool (the redo bench's engine): the decode thread, or the first of several workers,
 * delivers straight to the replay workers; one or two workers apply every block exactly once
 * between them; a pool replays again with the same results on the same threads (pages reused);
 * a failing decode fails the replay with the decoder's error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { walSegmentFileName } from '../../../src/lsn.js';
import { ReplayPool, replayWalFiles } from '../../../src/walredo/replay-pool.js';
import { appliedPageImage, filler, WalBuilder } from '../wal/wal-builder.js';

const SEGMENT = 0x1000000;
const START = 6 * SEGMENT;
const BLOCKS = 40;
const ROUNDS = 5;


/** ROUNDS full-page images of each of BLOCKS blocks, and records without blocks between them. */
async function writeWal(directory: string): Promise<string> {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
  for (let round = 0; round < ROUNDS; round++) {
    for (let block = 0; block < BLOCKS; block++) {
      wal.add({ rmgr: 0, info: 0xb0, blocks: [{ id: 0, rel, block, image: appliedPageImage(round + block) }] });
      wal.add({ rmgr: 1, info: 0, xid: 700 + block, mainData: filler(16, block) });
    }
  }
  const path = join(directory, walSegmentFileName(1, START));
  await writeFile(path, wal.bytes());
  return path;
}

test('one or two workers apply every block exactly once, and a pool replays again alike', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-replay-pool-'));
  try {
    const path = await writeWal(directory);
    const single = await replayWalFiles([path]);
    assert.is(single.records, 2 * BLOCKS * ROUNDS);
    assert.is(single.pages, BLOCKS * ROUNDS);
    assert.is(single.workers[0]!.stats.restored, BLOCKS * ROUNDS);
    assert.is(single.workers[0]!.stats.pagesHeld, BLOCKS);
    for (const decoding of ['thread', 'first-worker'] as const) {
      const pool = new ReplayPool(2, decoding);
      try {
        for (let run = 0; run < 2; run++) {
          const result = await pool.replay([path]);
          const what = `${decoding}, run ${run}`;
          assert.is(result.records, 2 * BLOCKS * ROUNDS, what);
          assert.is(result.pages, BLOCKS * ROUNDS, `${what}: every block once between the two`);
          const [first, second] = result.workers.map((worker) => worker.stats);
          assert.is(first!.records, result.records, 'each worker saw the whole stream');
          assert.is(second!.records, result.records, 'each worker saw the whole stream');
          assert.is(first!.pagesHeld + second!.pagesHeld, BLOCKS);
          if (decoding === 'thread') assert.is(first!.pagesHeld, BLOCKS / 2, `${what}: the pages were shared out evenly`);
          else assert.ok(first!.pagesHeld > 0 && first!.pagesHeld < second!.pagesHeld, `${what}: the decoding worker got fewer pages (${first!.pagesHeld}/${second!.pagesHeld})`);
          assert.is(first!.failed + second!.failed + first!.noBase + second!.noBase, 0);
        }
      } finally {
        await pool.close();
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

for (const workers of [1, 2]) test(`corrupt WAL fails the replay with the decoder's error, and the pool replays good WAL after it (${workers} workers)`, async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-replay-pool-'));
  const pool = new ReplayPool(workers);
  try {
    const path = await writeWal(directory);
    const good = await import('node:fs/promises').then((fs) => fs.readFile(path));
    const bad = Buffer.from(good);
    bad[0x2000 + 40] = bad[0x2000 + 40]! ^ 0xff; // inside the first record's image (it spans WAL pages)
    const badPath = join(directory, 'bad');
    await import('node:fs/promises').then((fs) => fs.mkdir(badPath));
    await writeFile(join(badPath, walSegmentFileName(1, START)), bad);
    try {
      await pool.replay([join(badPath, walSegmentFileName(1, START))]);
      assert.unreachable('corrupt WAL replayed');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), String(error));
    }
    const result = await pool.replay([path]);
    assert.is(result.pages, BLOCKS * ROUNDS);
  } finally {
    await pool.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test.run();
