/**
 * The walredo pool and actor: pages come back reconstructed (image + Strata records) from worker
 * threads; a failing job fails alone with its own error; a dying or stuck worker fails its batch
 * with PS_ERR_REDO_FAILED and the pool keeps serving; a full queue is PS_ERR_MAILBOX_FULL.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import type { ReconstructData } from '../../../src/value.js';
import { BLCKSZ } from '../../../src/walredo/page.js';
import { reconstructPage } from '../../../src/walredo/reconstruct.js';
import { createWalRedoBehavior } from '../../../src/walredo/walredo-actor.js';
import { REDO_BATCH_JOBS_MAX, WalRedoPool } from '../../../src/walredo/walredo-pool.js';
import type { RedoJob } from '../../../src/walredo/walredo-protocol.js';
import { buildRecord, filler } from '../wal/wal-builder.js';

const KEY = '000000067f00004000000040640000000007';

function clogJob(xids: number[]): RedoJob {
  const data: ReconstructData = {
    image: { lsn: 100, bytes: new Uint8Array(BLCKSZ) },
    records: [{ lsn: 200, value: { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids, timestamp: 0 } } }],
  };
  return { key: KEY, data };
}

/** A job whose record has no redo routine (an XLOG record that is not a full-page image). */
function unsupportedJob(): RedoJob {
  const record = buildRecord({ rmgr: 0, info: 0x30, blocks: [{ id: 0, rel: { spcNode: 1663, dbNode: 5, relNode: 16384 }, block: 0, data: filler(8) }] }, 0);
  // A never-initialized base page: no page LSN to skip the record by (BLK_DONE).
  return { key: KEY, data: { image: { lsn: 100, bytes: new Uint8Array(BLCKSZ) }, records: [{ lsn: 300, value: { kind: 'walRecord', willInit: false, blockId: 0, record } }] } };
}

function withModule(source: string, body: (module: string) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'strata-walredo-'));
  const module = join(directory, 'task.mjs');
  writeFileSync(module, source);
  return body(module).finally(() => rmSync(directory, { recursive: true, force: true }));
}

test('a batch comes back as the pages reconstruct.ts builds, in order', async () => {
  const pool = new WalRedoPool();
  try {
    const jobs = [clogJob([3, 4]), clogJob([100_000]), clogJob([7])];
    const pages = await pool.redo(jobs);
    assert.is(pages.length, 3);
    pages.forEach((page, index) => {
      assert.ok(page instanceof Uint8Array, `job ${index}`);
      assert.equal([...page], [...reconstructPage(jobs[index]!.key, jobs[index]!.data)]);
    });
    assert.is((pages[0] as Uint8Array)[0], 0b0100_0000, 'xid 3 committed: bits 6-7 of byte 0');
    assert.is((pages[0] as Uint8Array)[1], 0b01, 'xid 4 committed: bits 0-1 of byte 1');
  } finally {
    await pool.close();
  }
});

test('page buffers are reused: many batches, at most one buffer per batch in flight, pages owned by their callers', async () => {
  const pool = new WalRedoPool({ threads: 2 });
  try {
    const kept: Uint8Array[] = [];
    for (let round = 0; round < 20; round++) {
      const [page] = await pool.redo([clogJob([round + 3])]);
      assert.ok(page instanceof Uint8Array);
      kept.push(page);
    }
    assert.is(pool.bufferCount, 1, 'one batch at a time used one buffer, twenty times');
    // A caller's page is its own: later batches, written into the same buffer, do not change it.
    assert.equal([...kept[0]!], [...reconstructPage(KEY, clogJob([3]).data)]);
    assert.ok(!(kept[0]!.buffer instanceof SharedArrayBuffer), 'callers get pages of their own memory');
    const concurrent = await Promise.all([1, 2, 3, 4].map((xid) => pool.redo([clogJob([xid]), clogJob([xid + 10])])));
    assert.ok(pool.bufferCount <= 4, `at most one buffer per batch in flight, got ${pool.bufferCount}`);
    concurrent.forEach((pages, index) => assert.equal([...(pages[1] as Uint8Array)], [...reconstructPage(KEY, clogJob([index + 11]).data)]));
    const before = pool.bufferCount;
    for (let round = 0; round < 10; round++) await Promise.all([pool.redo([clogJob([1])]), pool.redo([clogJob([2])])]);
    assert.is(pool.bufferCount, before, 'a steady load allocates no more buffers');
  } finally {
    await pool.close();
  }
});

test('a batch of more than REDO_BATCH_JOBS_MAX jobs is refused with PS_ERR_BAD_REQUEST', async () => {
  const pool = new WalRedoPool();
  try {
    await pool.redo(Array.from({ length: REDO_BATCH_JOBS_MAX + 1 }, () => clogJob([1])));
    assert.unreachable('an oversized batch was accepted');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(error));
  } finally {
    await pool.close();
  }
});

test('a job that fails fails alone, with an error naming its key and the record', async () => {
  const pool = new WalRedoPool();
  try {
    const [first, failed, last] = await pool.redo([clogJob([1]), unsupportedJob(), clogJob([2])]);
    assert.ok(first instanceof Uint8Array && last instanceof Uint8Array);
    assert.ok(isStrataError(failed, 'PS_ERR_REDO_UNSUPPORTED'), String(failed));
    assert.match(failed.message, KEY);
    assert.match(failed.message, /XLOG/);
  } finally {
    await pool.close();
  }
});

test('a worker that dies fails its batch with PS_ERR_REDO_FAILED and is replaced', () =>
  withModule("let calls = 0;\nexport default function () { calls += 1; process.exit(7); }\n", async (module) => {
    const pool = new WalRedoPool({ workerModule: module });
    try {
      const outcomes = await pool.redo([clogJob([1]), clogJob([2])]);
      assert.ok(outcomes.every((outcome) => isStrataError(outcome, 'PS_ERR_REDO_FAILED')), String(outcomes[0]));
      assert.is(pool.bufferCount, 0, 'the dead worker\'s buffer was dropped, not reused');
      const again = await pool.redo([clogJob([3])]);
      assert.ok(isStrataError(again[0], 'PS_ERR_REDO_FAILED'), 'a replacement worker answered (and died) again');
    } finally {
      await pool.close();
    }
  }));

test('a batch that runs past the job timeout fails with PS_ERR_REDO_FAILED', () =>
  withModule('export default function () { const end = Date.now() + 5000; while (Date.now() < end) {} return null; }\n', async (module) => {
    const pool = new WalRedoPool({ workerModule: module, jobTimeoutMs: 200 });
    try {
      const started = Date.now();
      const [outcome] = await pool.redo([clogJob([1])]);
      assert.ok(isStrataError(outcome, 'PS_ERR_REDO_FAILED'), String(outcome));
      assert.match(outcome.message, /longer than 200 ms/);
      assert.ok(Date.now() - started < 4000, 'the timeout did not wait for the worker');
    } finally {
      await pool.close();
    }
  }));

test('a full queue is PS_ERR_MAILBOX_FULL', () =>
  withModule('export default async function () { await new Promise((resolve) => setTimeout(resolve, 300)); return null; }\n', async (module) => {
    const pool = new WalRedoPool({ workerModule: module, queueMax: 1 });
    try {
      const running = pool.redo([clogJob([1])]);
      const queued = pool.redo([clogJob([2])]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      try {
        await pool.redo([clogJob([3])]);
        assert.unreachable('a third batch was accepted');
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_MAILBOX_FULL'), String(error));
      }
      await Promise.all([running, queued]);
    } finally {
      await pool.close();
    }
  }));

test('the walredo actor batches concurrent requests into one pool call', async () => {
  const calls: number[] = [];
  const pool = new WalRedoPool();
  const counting = { redo: (jobs: RedoJob[]) => { calls.push(jobs.length); return pool.redo(jobs); } } as unknown as WalRedoPool;
  try {
    const behavior = createWalRedoBehavior({ tenantId: 't', pool: () => counting });
    assert.ok(behavior.concurrent?.({ kind: 'Redo', key: KEY, data: clogJob([1]).data }));
    const context = undefined as never;
    const pages = await Promise.all([1, 2, 3, 4].map((xid) => behavior.receive({ kind: 'Redo', key: KEY, data: clogJob([xid]).data }, context) as Promise<Uint8Array>));
    assert.equal(calls, [4]);
    assert.ok(pages.every((page) => page.length === BLCKSZ));
    assert.is(pages[3]![1], 0b01, 'xid 4 committed in byte 1');
  } finally {
    await pool.close();
  }
});

test.run();
