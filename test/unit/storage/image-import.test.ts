/**
 * The streamed image import (src/storage/image-import.ts through
 * LayeredTimelineStore.beginImageImport): ranges split at the target size, small images sorted
 * around them, files that never overlap, nothing visible before commit, and failures (bad input,
 * failpoints between files and before publishing) that leave neither layer nor temp file behind.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { clearFailpoints, configureFailpoints } from '../../../src/failpoints.js';
import type { Key } from '../../../src/keys.js';
import { isTempFileName } from '../../../src/storage/crashsafe.js';
import { IMPORT_BEFORE_PUBLISH_FAILPOINT, type ImageImport } from '../../../src/storage/image-import.js';
import { IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT } from '../../../src/storage/image-layer.js';
import { KEY_SPACE_END, KEY_SPACE_START, parseLayerName } from '../../../src/storage/layer-name.js';
import { LayeredTimelineStore } from '../../../src/storage/layered-timeline-store.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { blockKey, faultyFs, page, record, withTempDirectory, type Faults } from './storage-harness.js';

const LSN = 0x3000028;
const childScript = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'helpers', 'import-crash-child.js');
const PAGE = 8192;

/** Layer files of the directory as key ranges, sorted; asserts they are image layers at LSN. */
function layerRanges(directory: string): Array<{ keyStart: Key; keyEnd: Key }> {
  const ranges = readdirSync(directory).flatMap((fileName) => {
    const name = parseLayerName(fileName);
    if (name === undefined) return [];
    assert.is(name.kind, 'image', `${fileName} is an image layer`);
    if (name.kind === 'image') assert.is(name.lsn, LSN);
    return [{ keyStart: name.keyStart, keyEnd: name.keyEnd }];
  });
  return ranges.sort((left, right) => (left.keyStart < right.keyStart ? -1 : 1));
}

function assertDisjoint(ranges: Array<{ keyStart: Key; keyEnd: Key }>): void {
  for (let index = 1; index < ranges.length; index++) {
    assert.ok(ranges[index - 1]!.keyEnd <= ranges[index]!.keyStart, `${JSON.stringify(ranges[index - 1])} overlaps ${JSON.stringify(ranges[index])}`);
  }
}

function leftovers(directory: string): string[] {
  return readdirSync(directory).filter((name) => isTempFileName(name) || parseLayerName(name) !== undefined);
}

/**
 * Relation 16400 blocks 0-19 as one range (split in files of 8 pages), relation 16300 blocks 0-2
 * as another, and small images below, between and above them, added in no key order.
 */
async function importMixed(store: LayeredTimelineStore, sortBufferBytes: number): Promise<Map<Key, Uint8Array>> {
  const expected = new Map<Key, Uint8Array>();
  const imageImport = await store.beginImageImport(LSN, { sortBufferBytes });
  const small = async (key: Key, fill: number, length = 300) => {
    expected.set(key, page(fill, length));
    await imageImport.addSmall(key, page(fill, length));
  };
  await small(blockKey(7, 16500), 1);
  const large = imageImport.openRange();
  for (let block = 0; block < 20; block++) {
    expected.set(blockKey(block, 16400), page(100 + block));
    await large.add(blockKey(block, 16400), page(100 + block));
  }
  await large.finish();
  await small(blockKey(0, 16350), 2);
  await small(blockKey(0xfffffffe, 16400), 3);
  const other = imageImport.openRange();
  for (let block = 0; block < 3; block++) {
    expected.set(blockKey(block, 16300), page(200 + block));
    await other.add(blockKey(block, 16300), page(200 + block));
  }
  for (let block = 0; block < 40; block++) await small(blockKey(block, 16200), 300 + block, PAGE);
  assert.is(await store.getReconstructData(blockKey(0, 16400), LSN), undefined, 'nothing is visible before commit');
  const result = await imageImport.commit();
  assert.is(result.images, expected.size);
  return expected;
}

async function checkValues(store: LayeredTimelineStore, expected: Map<Key, Uint8Array>): Promise<void> {
  for (const [key, bytes] of expected) {
    const data = await store.getReconstructData(key, LSN);
    assert.equal(data?.image?.bytes, bytes, `image of ${key}`);
    assert.is(data?.image?.lsn, LSN);
    assert.is(await store.getReconstructData(key, LSN - 1), undefined);
  }
  assert.equal(await store.keysInRange(KEY_SPACE_START, KEY_SPACE_END, LSN), [...expected.keys()].sort());
}

test('ranges and small images become non-overlapping image layers at the import LSN', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 8 * PAGE });
    const expected = await importMixed(store, 1024 * 1024);
    assert.is(store.diskConsistentLsn, LSN);
    assert.is(store.lastPutLsn, LSN);
    assert.is(store.openLayerBytes, 0, 'nothing went through the open layer');
    await checkValues(store, expected);
    const ranges = layerRanges(directory);
    assertDisjoint(ranges);
    const large = ranges.filter((range) => range.keyStart >= blockKey(0, 16400) && range.keyEnd <= blockKey(20, 16400));
    assert.is(large.length, 3, 'the 20-page range is split at 8 pages');
    assert.ok(ranges.length >= 7, `small images are cut around both ranges: ${ranges.length} files`);
    assert.equal(readdirSync(directory).filter(isTempFileName), []);
    // Later records land above the images; everything survives a reopen.
    store.put(blockKey(3, 16400), LSN + 100, record(1));
    await store.flush(LSN + 100);
    await store.close();
    const reopened = await LayeredTimelineStore.open({ directory, logger: log.logger });
    assert.is(reopened.diskConsistentLsn, LSN + 100);
    await checkValues(reopened, expected);
    assert.equal((await reopened.getReconstructData(blockKey(3, 16400), LSN + 100))?.records.map((entry) => entry.lsn), [LSN + 100]);
    await reopened.close();
    log.assertClean();
  }));

test('small images beyond the sort buffer spill and still make non-overlapping layers', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 8 * PAGE });
    const expected = await importMixed(store, 3 * PAGE);
    const published = log.lines.find((line) => line.msg === 'published imported image layers');
    assert.ok(Number(published?.spilledRuns) > 5, `runs spilled: ${JSON.stringify(published)}`);
    await checkValues(store, expected);
    assertDisjoint(layerRanges(directory));
    assert.equal(readdirSync(directory).filter(isTempFileName), [], 'no run or temp file is left');
    await store.close();
    log.assertClean();
  }));

/** Runs `body` on a new import as the base backup importer does: any failure aborts the import. */
async function expectFailedImport(directory: string, body: (imageImport: ImageImport) => Promise<unknown>, code: string): Promise<void> {
  const log = new LogCapture();
  const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 8 * PAGE });
  const imageImport = await store.beginImageImport(LSN);
  const error = await body(imageImport).then(() => undefined, async (caught: unknown) => {
    await imageImport.abort();
    return caught;
  });
  assert.ok(isStrataError(error) && error.code === code, `${code} expected: ${String(error)}`);
  assert.equal(leftovers(directory), [], 'neither layer nor temp file remains');
  assert.is(store.diskConsistentLsn, 0);
  assert.equal(store.layerFileNames, []);
  assert.is(await store.getReconstructData(blockKey(0, 16400), LSN), undefined);
  // The store still takes an import afterwards.
  const expected = await importMixed(store, 1024 * 1024);
  await checkValues(store, expected);
  await store.close();
  log.assertClean();
}

test('a small key inside a streamed range is PS_ERR_BAD_REQUEST and leaves nothing', () =>
  withTempDirectory((directory) => expectFailedImport(directory, async (imageImport) => {
    const range = imageImport.openRange();
    for (let block = 0; block < 20; block++) await range.add(blockKey(block, 16400), page(block));
    await imageImport.addSmall(blockKey(5, 16400), page(9));
    return imageImport.commit();
  }, 'PS_ERR_BAD_REQUEST')));

test('two ranges that overlap are PS_ERR_BAD_REQUEST and leave nothing', () =>
  withTempDirectory((directory) => expectFailedImport(directory, async (imageImport) => {
    for (let copy = 0; copy < 2; copy++) {
      const range = imageImport.openRange();
      for (let block = 0; block < 3; block++) await range.add(blockKey(block, 16400), page(block));
      await range.finish();
    }
    return imageImport.commit();
  }, 'PS_ERR_BAD_REQUEST')));

for (const name of [IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT, IMPORT_BEFORE_PUBLISH_FAILPOINT]) {
  test(`failpoint ${name} fails the import, which removes every file it wrote`, () =>
    withTempDirectory((directory) => expectFailedImport(directory, async (imageImport) => {
      configureFailpoints(`${name}=return`);
      try {
        const range = imageImport.openRange();
        for (let block = 0; block < 30; block++) await range.add(blockKey(block, 16400), page(block));
        await range.finish();
        await imageImport.addSmall(blockKey(1, 16200), page(1));
        return await imageImport.commit();
      } finally {
        clearFailpoints();
      }
    }, 'PS_ERR_FAILPOINT')));
}

test('a file whose commit fails while the next one is written fails the import, which leaves nothing', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const faults: Faults = {};
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 8 * PAGE, fs: faultyFs(faults) });
    const imageImport = await store.beginImageImport(LSN);
    faults.failSync = true;
    const range = imageImport.openRange();
    const error = await (async () => {
      for (let block = 0; block < 30; block++) if (!range.tryAdd(blockKey(block, 16400), page(block))) await range.add(blockKey(block, 16400), page(block));
      await range.finish();
    })().then(() => undefined, (caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    await imageImport.abort();
    assert.equal(leftovers(directory), []);
    assert.equal(store.layerFileNames, []);
    await store.close();
    log.assertClean();
  }));

test('abort before commit removes the files written so far', () =>
  withTempDirectory(async (directory) => {
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger, imageLayerBytesTarget: 8 * PAGE });
    const imageImport = await store.beginImageImport(LSN);
    const range = imageImport.openRange();
    for (let block = 0; block < 20; block++) await range.add(blockKey(block, 16400), page(block));
    assert.ok(readdirSync(directory).filter(isTempFileName).length >= 2, 'finished files wait under temp names');
    assert.equal(store.layerFileNames, [], 'and are not in the layer map');
    await imageImport.abort();
    assert.equal(leftovers(directory), []);
    await store.close();
    log.assertClean();
  }));

test('a process killed between two image files leaves nothing a reopened store loads', () =>
  withTempDirectory(async (directory) => {
    const child = spawn(process.execPath, [childScript, directory, String(LSN)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => { output += String(chunk); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const staged = /^[0-9a-f]{36}-[0-9a-f]{36}__[0-9A-F]{16}\..*\.strata-temp$/;
    const deadline = Date.now() + 20_000;
    while (!readdirSync(directory).some((name) => staged.test(name)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    await exited;
    assert.is(output, '', 'the import never committed');
    assert.ok(readdirSync(directory).some((name) => staged.test(name)), 'a finished image file waited under a temp name when the process died');
    const log = new LogCapture();
    const store = await LayeredTimelineStore.open({ directory, logger: log.logger });
    assert.equal(store.layerFileNames, [], 'no layer of the interrupted import is loaded');
    assert.is(store.diskConsistentLsn, 0);
    assert.is(await store.getReconstructData(blockKey(0, 16400), LSN), undefined);
    assert.equal(leftovers(directory), [], 'its temp files are removed');
    await store.close();
    assert.ok(log.lines.some((line) => line.msg === 'removed temp files of interrupted writes'));
    log.assertClean();
  }));

test.run();
