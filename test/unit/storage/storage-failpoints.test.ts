/**
 * The storage failpoints fire where their names say (failpoint-names.ts), on the thread that does
 * the write:
 *  - the delta layer write on the flush thread, whether the failpoint was configured before the
 *    thread started (handed over at spawn) or after (forwarded), including a `pause` there that a
 *    reconfiguration in this thread releases;
 *  - the timeline metadata write, before and after its rename;
 *  - the image layer write, before a file's rename and after each published file.
 * `return` at each is PS_ERR_FAILPOINT, and what is on disk afterwards is what a crash at that
 * step would leave (plus no temp file: a failed write cleans up after itself).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { clearFailpoints, configureFailpoints } from '../../../src/failpoints.js';
import { TEMP_FILE_SUFFIX } from '../../../src/storage/crashsafe.js';
import { LayerFlushWorker } from '../../../src/storage/flush-worker.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { parseLayerName } from '../../../src/storage/layer-name.js';
import { readTimelineMetadata, writeTimelineMetadata, type TimelineMetadata } from '../../../src/storage/timeline-metadata.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { blockKey, image, page, record, withTempDirectory } from './storage-harness.js';

async function expectFailpoint(promise: Promise<unknown>, name: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_FAILPOINT'), String(error));
    assert.match((error as Error).message, `failpoint '${name}'`);
    return;
  }
  assert.unreachable(`expected PS_ERR_FAILPOINT from ${name}`);
}

function filesIn(directory: string): { layers: string[]; temps: string[] } {
  const names = readdirSync(directory);
  return { layers: names.filter((name) => parseLayerName(name) !== undefined).sort(), temps: names.filter((name) => name.endsWith(TEMP_FILE_SUFFIX)) };
}

/** Runs `body` with this thread's failpoints cleared before and after. */
async function withFailpoints(body: () => Promise<void>): Promise<void> {
  clearFailpoints();
  try {
    await body();
  } finally {
    clearFailpoints();
  }
}

test('delta layer failpoints fire on the flush thread, configured after it started (forwarded) or before (handed over)', () =>
  withFailpoints(() => withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const worker = new LayerFlushWorker();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    store.put(blockKey(1), 10, image(1));
    assert.is(await store.flush(10), 10, 'the first flush starts the flush thread');
    const thread = worker.threadId;
    assert.ok(thread !== undefined);

    configureFailpoints('delta-layer-before-rename=1*return(forwarded)');
    store.put(blockKey(1), 20, record(2));
    await expectFailpoint(store.flush(20), 'delta-layer-before-rename');
    assert.is(worker.threadId, thread, 'the same thread failed the write: the configuration was forwarded to it');
    assert.is(store.diskConsistentLsn, 10);
    assert.equal(filesIn(directory), { layers: store.layerFileNames, temps: [] }, 'no file was renamed, the temp file is gone');
    assert.is(await store.flush(20), 20, 'the 1* failpoint is spent in the flush thread: the retry succeeds');
    await store.close();
    await worker.close();

    // N* counts are per thread: this thread still holds its unspent 1*, which a new flush thread
    // would be handed. Turn it off, and hand over another one.
    configureFailpoints('delta-layer-before-rename=off;delta-layer-mid-write=1*return(handed-over)');
    const fresh = new LayerFlushWorker();
    const second = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: fresh });
    second.put(blockKey(2), 30, image(3));
    await expectFailpoint(second.flush(30), 'delta-layer-mid-write');
    assert.ok(fresh.threadId !== undefined, 'a new thread received the active failpoints when it started');
    assert.equal(filesIn(directory).temps, [], 'the partial temp file was removed');
    assert.is(await second.flush(30), 30);
    await second.close();
    await fresh.close();
    log.assertClean();
  })));

test('a pause at delta-layer-before-directory-fsync holds the flush after the rename until it is turned off here', () =>
  withFailpoints(() => withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const worker = new LayerFlushWorker();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, flushWorker: worker });
    store.put(blockKey(1), 10, image(1));
    await store.flush(10);
    configureFailpoints('delta-layer-before-directory-fsync=pause');
    store.put(blockKey(1), 20, record(2));
    let settled = false;
    const flushing = store.flush(20).finally(() => { settled = true; });
    for (let attempt = 0; attempt < 200 && filesIn(directory).layers.length < 2; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.is(filesIn(directory).layers.length, 2, 'the new layer file is renamed into place');
    assert.is(settled, false, 'the flush is paused before the directory fsync');
    assert.is(store.diskConsistentLsn, 10);
    configureFailpoints('delta-layer-before-directory-fsync=off');
    assert.is(await flushing, 20, 'released, the flush completes');
    await store.close();
    await worker.close();
    log.assertClean();
  })));

const metadata: TimelineMetadata = {
  diskConsistentLsn: 0x200, prevRecordLsn: 0, ancestorTimelineId: null, ancestorLsn: 0, latestGcCutoffLsn: 0, initdbLsn: 0x100, pgVersion: 15, walSource: null,
};

test('metadata failpoints: before the rename the old file stays, after it the new one is in place', () =>
  withFailpoints(() => withTempDirectory(async (directory) => {
    await writeTimelineMetadata(nodeFs, directory, metadata);
    configureFailpoints('metadata-before-rename=1*return');
    await expectFailpoint(writeTimelineMetadata(nodeFs, directory, { ...metadata, diskConsistentLsn: 0x300 }), 'metadata-before-rename');
    assert.is((await readTimelineMetadata(nodeFs, directory))?.diskConsistentLsn, 0x200);
    configureFailpoints('metadata-before-directory-fsync=1*return');
    await expectFailpoint(writeTimelineMetadata(nodeFs, directory, { ...metadata, diskConsistentLsn: 0x400 }), 'metadata-before-directory-fsync');
    assert.is((await readTimelineMetadata(nodeFs, directory))?.diskConsistentLsn, 0x400);
    assert.equal(filesIn(directory).temps, []);
  })));

test('image layer failpoints: before a rename nothing is published, after a file the next one is not started', () =>
  withFailpoints(() => withTempDirectory(async (parent) => {
    const log = new LogCapture();
    async function* entries() {
      for (let block = 0; block < 12; block++) yield [blockKey(block), page(block)] as const;
    }
    const first = join(parent, 'first');
    configureFailpoints('image-layer-before-rename=1*return');
    const store = await LayeredTimelineStore.open({ directory: first, logger: log.logger, imageLayerBytesTarget: 5 * 8192 });
    await expectFailpoint(store.importImages(1000, entries()), 'image-layer-before-rename');
    assert.equal(filesIn(first), { layers: [], temps: [] });
    await store.close();

    const second = join(parent, 'second');
    configureFailpoints('image-layer-after-file=1*return');
    const split = await LayeredTimelineStore.open({ directory: second, logger: log.logger, imageLayerBytesTarget: 5 * 8192 });
    await expectFailpoint(split.importImages(1000, entries()), 'image-layer-after-file');
    const files = filesIn(second);
    assert.is(files.layers.length, 1, `one of three files was published: ${files.layers.join(', ')}`);
    assert.equal(files.temps, [], 'the second file was not started');
    await split.close();
    log.assertClean();
  })));

test.run();
