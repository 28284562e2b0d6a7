/**
 * The flush thread: a store flushes through it off the ingest thread, a failure there is PS_ERR_IO
 * and the flush stays pending, and a crashed thread fails its flush, loses its temp file, and is
 * replaced so the retry succeeds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';
import { LogCapture } from '../../helpers/log-capture.js';
import { isStrataError } from '../../../src/errors.js';
import { LayerFlushWorker } from '../../../src/storage/flush-worker.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { TEMP_FILE_SUFFIX } from '../../../src/storage/crashsafe.js';
import { blockKey, image, page, record, withTempDirectory } from './storage-harness.js';

const key = blockKey(3);
const realThreadModule = new URL('../../../workers/layer-flush-thread.js', import.meta.url);

async function expectIoError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    return error as Error;
  }
  assert.unreachable('expected PS_ERR_IO');
  throw new Error('unreachable');
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200 && !condition(); attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), what);
}

/**
 * A thread module that, the first time (no marker file yet), creates the request's temp file and
 * throws (an uncaught error kills the thread); afterwards it is the real flush thread.
 */
function crashOnceModule(directory: string): URL {
  const marker = join(directory, 'crashed-once');
  const path = join(directory, 'crash-once-thread.mjs');
  writeFileSync(path, `
    import { existsSync, writeFileSync } from 'node:fs';
    import { parentPort } from 'node:worker_threads';
    if (existsSync(${JSON.stringify(marker)})) {
      await import(${JSON.stringify(realThreadModule.href)});
    } else {
      parentPort.once('message', (request) => {
        writeFileSync(${JSON.stringify(marker)}, '');
        writeFileSync(request.tempPath, 'half a layer');
        throw new Error('simulated flush thread crash');
      });
    }
  `);
  return pathToFileURL(path);
}

test('a store flushes through its flush thread, and the file reads back after reopen', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const worker = new LayerFlushWorker();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    for (let block = 0; block < 20; block++) store.put(blockKey(block), 10 + block, image(block));
    store.put(key, 40, record(4));
    assert.is(await store.flush(40), 40);
    assert.ok(worker.threadId !== undefined && worker.threadId !== threadId, 'a separate thread wrote the file');
    assert.is(worker.inFlightCount, 0);
    await store.close();
    const reopened = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    const data = await reopened.getReconstructData(key, 40);
    assert.equal(data?.image, { lsn: 13, bytes: page(3) });
    assert.equal(data?.records.map((entry) => entry.lsn), [40]);
    await reopened.close();
    await worker.close();
    log.assertClean();
  }));

test('a write that fails on the flush thread is PS_ERR_IO, keeps the layer readable and pending, and is retried', () =>
  withTempDirectory(async (parent) => {
    const log = new LogCapture();
    const directory = join(parent, 'timeline');
    const worker = new LayerFlushWorker();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    store.put(key, 10, image(1));
    rmSync(directory, { recursive: true });
    const error = await expectIoError(store.flush(10));
    assert.ok(error.message.includes(directory), error.message);
    assert.is(store.pendingFlushCount, 1);
    assert.is(store.diskConsistentLsn, 0);
    assert.equal((await store.getReconstructData(key, 10))?.image?.bytes, page(1));
    mkdirSync(directory);
    store.put(key, 20, record(2));
    assert.is(await store.flush(20), 20);
    assert.is(store.pendingFlushCount, 0);
    assert.is(store.layerFileNames.length, 2);
    await store.close();
    await worker.close();
    log.assertClean();
  }));

test('a crashed flush thread fails that flush, loses its temp file, and is replaced for the retry', () =>
  withTempDirectory(async (parent) => {
    const log = new LogCapture();
    const directory = join(parent, 'timeline');
    const worker = new LayerFlushWorker({ workerModule: crashOnceModule(parent) });
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    store.put(key, 10, image(1));
    const error = await expectIoError(store.flush(10));
    assert.ok(error.message.includes('simulated flush thread crash'), error.message);
    assert.ok(existsSync(join(parent, 'crashed-once')), 'the crashing thread ran');
    assert.is(worker.threadId, undefined, 'the dead thread is dropped');
    assert.is(store.pendingFlushCount, 1);
    await waitFor(() => !readdirSync(directory).some((name) => name.endsWith(TEMP_FILE_SUFFIX)), 'the temp file is removed');
    assert.equal((await store.getReconstructData(key, 10))?.image?.bytes, page(1));
    assert.is(await store.flush(10), 10);
    assert.ok(worker.threadId !== undefined, 'a new thread was spawned');
    assert.is(store.layerFileNames.length, 1);
    await store.close();
    await worker.close();
    log.assertClean();
  }));

test('requests beyond requestsMax are refused with PS_ERR_IO', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const worker = new LayerFlushWorker({ requestsMax: 1 });
    const first = await LayeredTimelineStore.open({ directory: join(directory, 'a'), logger: log.logger, flushWorker: worker });
    const second = await LayeredTimelineStore.open({ directory: join(directory, 'b'), logger: log.logger, flushWorker: worker });
    first.put(key, 10, image(1));
    second.put(key, 10, image(2));
    const firstFlush = first.flush(10);
    const secondFlush = second.flush(10);
    const outcomes = await Promise.allSettled([firstFlush, secondFlush]);
    assert.equal(outcomes.map((outcome) => outcome.status).sort(), ['fulfilled', 'rejected']);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    assert.ok(isStrataError(refused.reason, 'PS_ERR_IO'), String(refused.reason));
    assert.is(await second.flush(10), 10, 'the refused flush succeeds on retry');
    await first.close();
    await second.close();
    await worker.close();
    log.assertClean();
  }));

test.run();
