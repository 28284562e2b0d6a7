/**
 * The import's external sort (src/storage/image-sorter.ts): order and bytes survive spills and
 * multi-pass merges, the buffer stays within its budget, duplicate keys and damaged runs are coded
 * errors, and close() leaves no run file behind.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import type { Key } from '../../../src/keys.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { ENTRY_OVERHEAD_BYTES, ImageSorter, RUN_FAN_IN_MAX } from '../../../src/storage/image-sorter.js';
import { blockKey, page, seededRandom, withTempDirectory } from './storage-harness.js';

/** `count` distinct keys in a shuffled order, each with bytes derived from its block number. */
function shuffledImages(count: number, seed: number, length: (block: number) => number): Array<[Key, Uint8Array]> {
  const random = seededRandom(seed);
  const images = Array.from({ length: count }, (_, block) => [blockKey(block * 3, 16384 + (block % 7)), page(block, length(block))] as [Key, Uint8Array]);
  for (let index = images.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [images[index], images[other]] = [images[other]!, images[index]!];
  }
  return images;
}

async function drain(sorter: ImageSorter): Promise<Array<[Key, Uint8Array]>> {
  const out: Array<[Key, Uint8Array]> = [];
  for await (const [key, bytes] of sorter.sorted()) out.push([key, new Uint8Array(bytes)]); // a copy, as a plain Uint8Array
  return out;
}

function runFiles(directory: string): string[] {
  return readdirSync(directory).filter((name) => name.startsWith('import-run.'));
}

test('sorts within the buffer: no run file', () =>
  withTempDirectory(async (directory) => {
    const images = shuffledImages(50, 1, () => 100);
    const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes: 1024 * 1024 });
    for (const [key, bytes] of images) await sorter.add(key, bytes);
    const sorted = await drain(sorter);
    await sorter.close();
    assert.is(sorter.runsWritten, 0);
    assert.equal(sorted.map(([key]) => key), images.map(([key]) => key).sort());
  }));

test('spills sorted runs when the buffer is full, merges them, and keeps every byte', () =>
  withTempDirectory(async (directory) => {
    const images = shuffledImages(400, 2, (block) => 1 + (block * 37) % 9000);
    const bufferBytes = 64 * 1024;
    const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes });
    for (const [key, bytes] of images) {
      await sorter.add(key, bytes);
      assert.ok(sorter.bufferedBytes <= bufferBytes, `buffer ${sorter.bufferedBytes} within ${bufferBytes}`);
    }
    assert.ok(runFiles(directory).length > 1, 'runs were written to the directory');
    const sorted = await drain(sorter);
    const expected = [...images].sort(([left], [right]) => (left < right ? -1 : 1));
    assert.equal(sorted.map(([key]) => key), expected.map(([key]) => key));
    for (let index = 0; index < sorted.length; index++) assert.equal(sorted[index]![1], expected[index]![1], `bytes of ${sorted[index]![0]}`);
    assert.ok(sorter.runsWritten > 1);
    await sorter.close();
    assert.equal(runFiles(directory), [], 'close removes the runs');
  }));

test('more runs than the fan-in are merged in passes', () =>
  withTempDirectory(async (directory) => {
    const count = (RUN_FAN_IN_MAX * 3 + 5) * 2;
    const images = shuffledImages(count, 3, () => 200);
    // Two images per run: (200 + overhead) × 2 fits, × 3 does not.
    const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes: 2 * (200 + ENTRY_OVERHEAD_BYTES) });
    for (const [key, bytes] of images) await sorter.add(key, bytes);
    const spilled = sorter.runsWritten;
    assert.ok(spilled > RUN_FAN_IN_MAX * 3, `${spilled} runs spilled`);
    const sorted = await drain(sorter);
    assert.ok(sorter.runsWritten > spilled, 'merge passes wrote runs of their own');
    assert.equal(sorted.map(([key]) => key), images.map(([key]) => key).sort());
    await sorter.close();
    assert.equal(runFiles(directory), []);
  }));

test('a key added twice is PS_ERR_BAD_REQUEST, in the buffer or across runs', () =>
  withTempDirectory(async (directory) => {
    for (const bufferBytes of [1024 * 1024, 2 * (100 + ENTRY_OVERHEAD_BYTES)]) {
      const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes });
      for (const block of [5, 1, 9, 3, 1, 7]) await sorter.add(blockKey(block), page(block, 100));
      const error = await drain(sorter).then(() => undefined, (caught: unknown) => caught);
      assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), `bufferBytes ${bufferBytes}: ${String(error)}`);
      assert.match((error as Error).message, blockKey(1));
      await sorter.close();
    }
    assert.equal(runFiles(directory), []);
  }));

test('a damaged run is PS_ERR_IO naming it', () =>
  withTempDirectory(async (directory) => {
    const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes: 4 * (1000 + ENTRY_OVERHEAD_BYTES) });
    for (const [key, bytes] of shuffledImages(20, 4, () => 1000)) await sorter.add(key, bytes);
    const [run] = runFiles(directory);
    assert.ok(run !== undefined, 'a run was written');
    const bytes = readFileSync(join(directory, run));
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(join(directory, run), bytes);
    const error = await drain(sorter).then(() => undefined, (caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    assert.match((error as Error).message, run);
    await sorter.close();
    assert.equal(runFiles(directory), []);
  }));

test('a truncated run is PS_ERR_IO', () =>
  withTempDirectory(async (directory) => {
    const sorter = new ImageSorter({ fs: nodeFs, directory, bufferBytes: 4 * (1000 + ENTRY_OVERHEAD_BYTES) });
    for (const [key, bytes] of shuffledImages(20, 5, () => 1000)) await sorter.add(key, bytes);
    const [run] = runFiles(directory);
    assert.ok(run !== undefined);
    const bytes = readFileSync(join(directory, run));
    writeFileSync(join(directory, run), bytes.subarray(0, bytes.length - 10));
    const error = await drain(sorter).then(() => undefined, (caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    await sorter.close();
  }));

test.run();
