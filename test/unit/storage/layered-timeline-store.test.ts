/** The on-disk store: search across layer kinds, flush, failures, reopen, import. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogCapture } from '../../helpers/log-capture.js';
import { openDeltaLayer, writeDeltaLayer } from '../../../src/storage/delta-layer.js';
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { InMemoryLayer } from '../../../src/storage/in-memory-layer.js';
import { LayerMap } from '../../../src/storage/layer-map.js';
import { parseLayerName } from '../../../src/storage/layer-name.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { TEMP_FILE_SUFFIX } from '../../../src/storage/crashsafe.js';
import { blockKey, faultyFs, image, page, record, withTempDirectory, type Faults } from './storage-harness.js';

const key = blockKey(1);

test('search spans a file layer, an overlapping frozen layer and the open layer', () =>
  withTempDirectory(async (directory) => {
    const fileSource = new InMemoryLayer();
    fileSource.put(key, 10, image(1));
    fileSource.put(key, 40, record(4));
    fileSource.freeze(50);
    const finished = await writeDeltaLayer({ fs: nodeFs, directory, layer: fileSource });
    const handles = new FileHandleCache(nodeFs, 4);
    const file = await openDeltaLayer(finished.path, parseLayerName(finished.fileName)!, handles);
    const frozen = new InMemoryLayer();
    frozen.put(key, 30, record(3));
    frozen.put(key, 45, record(5));
    frozen.freeze(60);
    const open = new InMemoryLayer();
    open.put(key, 70, record(7));
    const map = new LayerMap();
    for (const layer of [file, open, frozen]) map.add(layer);
    const data = await map.getReconstructData(key, 100);
    assert.is(data?.image?.lsn, 10);
    assert.equal(data?.records.map((entry) => entry.lsn), [30, 40, 45, 70]);
    const middle = await map.getReconstructData(key, 41);
    assert.equal(middle?.records.map((entry) => entry.lsn), [30, 40]);
    await handles.close();
  }));

test('the search stops at the newest image and skips layers that cannot match', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger });
    store.put(key, 10, record(1));
    store.put(blockKey(50), 10, image(50));
    await store.flush(10);
    store.put(key, 20, image(2));
    await store.flush(20);
    store.put(key, 30, record(3));
    const data = await store.getReconstructData(key, 35);
    assert.equal(data?.image, { lsn: 20, bytes: page(2) });
    assert.equal(data?.records.map((entry) => entry.lsn), [30]);
    assert.equal((await store.getReconstructData(key, 15))?.records.map((entry) => entry.lsn), [10]);
    assert.is(store.layerFileNames.length, 2);
    await store.close();
    log.assertClean();
  }));

test('after reopen everything flushed reads identically and unflushed values are gone', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const first = await LayeredTimelineStore.open({ directory, logger: log.logger });
    for (let block = 0; block < 50; block++) first.put(blockKey(block), 100 + block, image(block));
    for (let block = 0; block < 50; block++) first.put(blockKey(block), 200 + block, record(block, block === 7));
    assert.is(await first.flush(260), 260);
    first.put(key, 300, record(99));
    const before = await Promise.all(Array.from({ length: 50 }, (_, block) => first.getReconstructData(blockKey(block), 1000)));
    await first.close();
    writeFileSync(join(directory, `leftover${TEMP_FILE_SUFFIX}`), 'partial');
    const second = await LayeredTimelineStore.open({ directory, logger: log.logger });
    assert.is(second.diskConsistentLsn, 260);
    assert.is(second.lastPutLsn, 260);
    const after = await Promise.all(Array.from({ length: 50 }, (_, block) => second.getReconstructData(blockKey(block), 1000)));
    assert.equal(after.slice(2), before.slice(2));
    assert.equal(after[1]?.records.map((entry) => entry.lsn), [201], 'the record put after the flush is gone');
    assert.not.ok(readdirSync(directory).some((name) => name.endsWith(TEMP_FILE_SUFFIX)));
    await second.close();
    log.assertClean();
  }));

test('a failed flush keeps the frozen layer readable, holds disk_consistent_lsn, and is retried', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const faults: Faults = { failRename: true };
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, fs: faultyFs(faults) });
    store.put(key, 10, image(1));
    await store.flush(10).then(() => assert.unreachable('flush must fail'), () => undefined);
    assert.is(store.diskConsistentLsn, 0);
    assert.is(store.pendingFlushCount, 1);
    assert.equal((await store.getReconstructData(key, 10))?.image?.bytes, page(1));
    store.put(key, 20, record(2));
    faults.failRename = false;
    assert.is(await store.flush(20), 20);
    assert.is(store.layerFileNames.length, 2);
    assert.equal((await store.getReconstructData(key, 20))?.records.map((entry) => entry.lsn), [20]);
    assert.is(readdirSync(directory).length, 2, 'no temp file remains');
    await store.close();
    log.assertClean();
  }));

test('puts during a flush go to the new open layer and are not in the flushed file', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger });
    store.put(key, 10, image(1));
    const flushed = store.flush(10);
    store.put(key, 20, record(2));
    assert.ok(store.openLayerBytes > 0 && store.openLayerBytes < 1000);
    assert.is(await flushed, 10);
    assert.equal((await store.getReconstructData(key, 20))?.records.map((entry) => entry.lsn), [20]);
    await store.close();
    const reopened = await LayeredTimelineStore.open({ directory, logger: log.logger });
    assert.equal((await reopened.getReconstructData(key, 20))?.records, []);
    await reopened.close();
    log.assertClean();
  }));

test('importImages writes image files that survive reopen, below later records', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 5 * 8192 });
    async function* entries() {
      for (let block = 0; block < 12; block++) yield [blockKey(block), page(block)] as const;
    }
    assert.equal(await store.importImages(1000, entries()), { files: 3, entries: 12 });
    assert.is(store.diskConsistentLsn, 1000);
    store.put(blockKey(3), 1100, record(3));
    await store.flush(1100);
    await store.close();
    const reopened = await LayeredTimelineStore.open({ directory, logger: log.logger });
    const data = await reopened.getReconstructData(blockKey(3), 2000);
    assert.equal(data?.image, { lsn: 1000, bytes: page(3) });
    assert.equal(data?.records.map((entry) => entry.lsn), [1100]);
    assert.equal(await reopened.keysInRange(blockKey(10), blockKey(20), 1000), [blockKey(10), blockKey(11)]);
    assert.is(await reopened.getReconstructData(blockKey(3), 999), undefined);
    await reopened.close();
    log.assertClean();
  }));

test('open takes the persisted disk_consistent_lsn when it is above the files', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, diskConsistentLsn: 5000 });
    assert.is(store.diskConsistentLsn, 5000);
    assert.is(await store.flush(6000), 6000, 'an empty flush still advances');
    assert.is(store.layerFileNames.length, 0);
    await store.close();
    log.assertClean();
  }));

test('a corrupt layer file fails the open with PS_ERR_IO', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger });
    store.put(key, 10, image(1));
    await store.flush(10);
    await store.close();
    const name = store.layerFileNames[0]!;
    writeFileSync(join(directory, name), 'garbage that is not a layer file at all, long enough to have a header');
    await LayeredTimelineStore.open({ directory, logger: log.logger }).then(
      () => assert.unreachable('open must fail'),
      (error: Error & { code?: string }) => {
        assert.is(error.code, 'PS_ERR_IO');
        assert.ok(error.message.includes(name));
      },
    );
    log.assertClean();
  }));

test.run();
