/**
 * The WAL decode stage on its thread: a stream session and a files session give the same records
 * as decoding on this thread, and a files session delivers the same batches straight to consumer
 * ports within their credits; corrupt WAL fails the session with the decoder's error; a dying
 * thread fails its requests with PS_ERR_IO; requests in flight are bounded.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { walSegmentFileName } from '../../../src/lsn.js';
import type { PackedRecords } from '../../../src/wal/packed-records.js';
import { readWalFilePackedBatches } from '../../../src/wal/segment-reader.js';
import { InlineWalDecoding, WalDecodeThread } from '../../../src/wal/wal-decode-stage.js';
import type { WalDecodePortMessage } from '../../../src/wal/wal-decode-protocol.js';
import { PackedRecordView } from '../../../src/wal/xlog-record.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { filler, WalBuilder } from './wal-builder.js';

const SEGMENT = 0x1000000;
const START = 6 * SEGMENT;

function sampleWal(): WalBuilder {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
  for (let index = 0; index < 300; index++) {
    wal.add({ rmgr: 10, info: 0, xid: 500 + index, blocks: [{ id: 0, rel, block: index % 17, data: filler(50 + (index % 90), index) }], mainData: filler(3, index) });
    if (index % 50 === 0) wal.add({ rmgr: 0, info: 0xb0, mainData: filler(20_000, index) });
  }
  return wal;
}

/** (lsn, endLsn, rmgr, block numbers, record bytes) of every record, for comparison. */
function summary(batches: PackedRecords[]): unknown[] {
  const view = new PackedRecordView();
  const rows: unknown[] = [];
  for (const batch of batches) {
    view.reset(batch);
    for (let index = 0; index < batch.count; index++) {
      const record = view.moveTo(index);
      rows.push([record.lsn, record.endLsn, record.rmgrId, record.blocks.map((block) => block.blockNumber), Buffer.from(record.record).toString('hex')]);
    }
  }
  return rows;
}

async function decodeInChunks(decode: (bytes: Uint8Array) => Promise<PackedRecords>, bytes: Uint8Array, chunk: number): Promise<PackedRecords[]> {
  const batches: PackedRecords[] = [];
  // Up to two requests in flight, as the walreceiver keeps them.
  let previous: Promise<PackedRecords> | undefined;
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    const next = decode(bytes.subarray(offset, Math.min(bytes.length, offset + chunk)));
    if (previous !== undefined) batches.push(await previous);
    previous = next;
  }
  if (previous !== undefined) batches.push(await previous);
  return batches;
}

/** The WAL up to its last complete record (the zero tail would be end-of-WAL). */
function completeBytes(wal: WalBuilder): Uint8Array {
  return wal.bytes().subarray(0, wal.recordEnds[wal.recordEnds.length - 1]! - START);
}

test('a stream session decodes the same records as decoding on this thread', async () => {
  const bytes = completeBytes(sampleWal());
  const expected = summary(await decodeInChunks((chunk) => new InlineWalDecoding(START).decode(chunk), bytes, bytes.length));
  assert.is(expected.length, 306);
  const thread = new WalDecodeThread();
  try {
    const session = thread.openStream(START);
    const batches = await decodeInChunks((chunk) => session.decode(chunk), bytes, 100_000);
    assert.ok(batches.every((batch) => batch.sources.every((source) => source instanceof SharedArrayBuffer)), 'bytes are shared, not copied back');
    assert.equal(summary(batches), expected);
    session.close();
    assert.is(thread.sessionCount, 0);
  } finally {
    await thread.close();
  }
});

test('a files session streams the same batches as reading the files here', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-decode-stage-'));
  const thread = new WalDecodeThread();
  try {
    const path = join(directory, walSegmentFileName(1, START));
    await writeFile(path, sampleWal().bytes());
    const local: PackedRecords[] = [];
    for await (const batch of readWalFilePackedBatches([path])) local.push(batch);
    const remote: PackedRecords[] = [];
    for await (const batch of thread.readFiles([path], { credits: 1 })) remote.push(batch);
    assert.equal(summary(remote), summary(local));
    assert.is(summary(remote).length, 306);
  } finally {
    await thread.close();
    await rm(directory, { recursive: true, force: true });
  }
});

/** sampleWal and 2.4 MB more: several read chunks, so several batches. */
function largeWal(): WalBuilder {
  const wal = sampleWal();
  for (let index = 0; index < 120; index++) wal.add({ rmgr: 0, info: 0xb0, mainData: filler(20_000, index) });
  return wal;
}

/** Collects what a consumer port receives, answering each batch with a credit (after `delayMs`). */
function consume(port: MessagePort, delayMs = 0): Promise<{ batches: PackedRecords[]; end: WalDecodePortMessage; maxWaiting: number }> {
  return new Promise((resolve) => {
    const batches: PackedRecords[] = [];
    let waiting = 0;
    let maxWaiting = 0;
    port.on('message', (message: WalDecodePortMessage) => {
      if (message.kind !== 'batch') {
        port.close();
        resolve({ batches, end: message, maxWaiting });
        return;
      }
      batches.push(message.batch);
      waiting += 1;
      maxWaiting = Math.max(maxWaiting, waiting);
      setTimeout(() => {
        waiting -= 1;
        port.postMessage({ kind: 'credit' });
      }, delayMs);
    });
  });
}

test('deliverFiles sends every batch to every consumer port, within its credits, and resolves with the record count', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-decode-ports-'));
  const thread = new WalDecodeThread();
  try {
    const path = join(directory, walSegmentFileName(1, START));
    await writeFile(path, largeWal().bytes());
    const local: PackedRecords[] = [];
    for await (const batch of readWalFilePackedBatches([path])) local.push(batch);
    assert.ok(local.length >= 3, `several batches (${local.length})`);
    const channels = [new MessageChannel(), new MessageChannel()];
    const consumers = [consume(channels[0]!.port2, 5), consume(channels[1]!.port2)];
    const records = await thread.deliverFiles([path], channels.map((channel) => channel.port1), { credits: 1 });
    const received = await Promise.all(consumers);
    assert.is(records, 426);
    for (const { batches, end, maxWaiting } of received) {
      assert.equal(summary(batches), summary(local));
      assert.equal(end, { kind: 'end', records: 426 });
      assert.is(maxWaiting, 1, 'a consumer never had more batches than its credits');
    }
    assert.is(thread.sessionCount, 0);
  } finally {
    await thread.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test('deliverFiles fails when a consumer closes its port before the end, and the other consumers hear of it', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-decode-ports-'));
  const thread = new WalDecodeThread();
  try {
    const path = join(directory, walSegmentFileName(1, START));
    await writeFile(path, largeWal().bytes());
    const [quitter, stayer] = [new MessageChannel(), new MessageChannel()];
    quitter!.port2.once('message', () => quitter!.port2.close());
    const staying = consume(stayer!.port2);
    try {
      await thread.deliverFiles([path], [quitter!.port1, stayer!.port1], { credits: 1 });
      assert.unreachable('delivery to a closed consumer succeeded');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
      assert.match(error.message, /closed its port/);
    }
    const { end } = await staying;
    assert.is(end.kind, 'failed');
  } finally {
    await thread.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test('corrupt WAL fails the session with PS_ERR_WAL_CORRUPT at the record, and the session stays failed', async () => {
  const wal = sampleWal();
  const bytes = completeBytes(wal).slice();
  const victim = wal.recordLsns[10]!;
  bytes[victim - START + 30] = bytes[victim - START + 30]! ^ 0x55;
  const thread = new WalDecodeThread();
  try {
    const session = thread.openStream(START);
    try {
      await session.decode(bytes);
      assert.unreachable('no error');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), String(error));
      assert.is(error.context.lsn, victim);
    }
    try {
      await session.decode(bytes.subarray(0, 10));
      assert.unreachable('a failed session decoded again');
    } catch (error) {
      assert.ok(isStrataError(error), String(error));
    }
  } finally {
    await thread.close();
  }
});

test('a thread that dies fails its requests with PS_ERR_IO', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-decode-crash-'));
  const module = join(directory, 'crash.mjs');
  await writeFile(module, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', (m) => { if (m.kind === 'decode') process.exit(3); });\n");
  const thread = new WalDecodeThread({ workerModule: module });
  try {
    const session = thread.openStream(START);
    try {
      await session.decode(completeBytes(sampleWal()));
      assert.unreachable('no error');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
      assert.match(error.message, /exited with code 3/);
    }
  } finally {
    await thread.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test('requests in flight per stream session are bounded', async () => {
  const thread = new WalDecodeThread();
  try {
    const session = thread.openStream(START);
    const bytes = completeBytes(sampleWal());
    const pending = Array.from({ length: 8 }, (_, index) => session.decode(bytes.subarray(index * 1000, index * 1000 + 1000)));
    try {
      await session.decode(bytes.subarray(8000, 9000));
      assert.unreachable('a ninth request was accepted');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_MAILBOX_FULL'), String(error));
    }
    const batches = await Promise.all(pending);
    assert.ok(batches.every((batch) => batch.count >= 0));
  } finally {
    await thread.close();
  }
});

test.run();
