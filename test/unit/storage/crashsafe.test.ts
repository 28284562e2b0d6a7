/** Crash-safe writes under injected failures: the old file stays, no partial file is visible. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { CrashSafeFileWriter, removeTempFiles, tempPathFor, writeFileCrashSafe, TEMP_FILE_SUFFIX } from '../../../src/storage/crashsafe.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { faultyFs, withTempDirectory } from './storage-harness.js';

const big = Buffer.alloc(3 * 1024 * 1024, 7);

test('a write creates the file with exactly the bytes and no temp file', () =>
  withTempDirectory(async (directory) => {
    await writeFileCrashSafe(nodeFs, join(directory, 'file'), big);
    assert.ok(readFileSync(join(directory, 'file')).equals(big));
    assert.equal(readdirSync(directory), ['file']);
  }));

for (const [label, faults] of [
  ['a write that throws half-way', { writeBytesBudget: 1024 * 1024 + 17 }],
  ['an fsync that fails', { failSync: true }],
  ['a rename that fails', { failRename: true }],
] as const) {
  test(`${label} keeps the old content and leaves no partial file`, () =>
    withTempDirectory(async (directory) => {
      const path = join(directory, 'file');
      writeFileSync(path, 'old content');
      try {
        await writeFileCrashSafe(faultyFs({ ...faults }), path, big);
        assert.unreachable('the injected failure must surface');
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
      }
      assert.is(readFileSync(path, 'utf8'), 'old content');
      assert.equal(readdirSync(directory), ['file']);
    }));
}

test('a caller-chosen temp path holds the bytes until commit renames it', () =>
  withTempDirectory(async (directory) => {
    const path = join(directory, 'file');
    const tempPath = tempPathFor(path);
    assert.ok(tempPath.endsWith(TEMP_FILE_SUFFIX) && tempPath.startsWith(`${path}.`));
    const writer = await CrashSafeFileWriter.create(nodeFs, path, tempPath);
    await writer.append(big);
    await writer.writeAt(0, Buffer.from('head'));
    assert.equal(readdirSync(directory), [tempPath.slice(directory.length + 1)]);
    await writer.commit();
    assert.equal(readdirSync(directory), ['file']);
    assert.ok(readFileSync(path).subarray(0, 4).equals(Buffer.from('head')));
    assert.is(readFileSync(path).length, big.length);
  }));

/** 8 KiB appends (through the two write buffers), each filled with its own index. */
async function appendSmall(writer: CrashSafeFileWriter, count: number): Promise<Buffer> {
  const expected = Buffer.alloc(count * 8192);
  for (let index = 0; index < count; index++) {
    const chunk = Buffer.alloc(8192, index & 0xff);
    chunk.writeUInt32LE(index, 0);
    chunk.copy(expected, index * 8192);
    await writer.append(chunk);
    chunk.fill(0xee); // the writer copied it: reusing the caller's bytes changes nothing
  }
  return expected;
}

test('small appends go through both write buffers in order, and writeAt patches after them', () =>
  withTempDirectory(async (directory) => {
    const path = join(directory, 'file');
    const writer = await CrashSafeFileWriter.create(nodeFs, path);
    const expected = await appendSmall(writer, 600);
    assert.is(writer.length, expected.length);
    await writer.writeAt(8192 * 300, Buffer.from('patched'));
    Buffer.from('patched').copy(expected, 8192 * 300);
    await writer.commit();
    assert.ok(readFileSync(path).equals(expected), 'the file holds every append at its position');
  }));

test('a buffered write that fails surfaces at a later append or commit, and leaves no partial file', () =>
  withTempDirectory(async (directory) => {
    for (const budget of [512 * 1024, 3 * 1024 * 1024 + 5]) {
      const path = join(directory, 'file');
      writeFileSync(path, 'old content');
      const writer = await CrashSafeFileWriter.create(faultyFs({ writeBytesBudget: budget }), path);
      const error = await appendSmall(writer, 600).then(() => writer.commit()).then(() => undefined, (caught: unknown) => caught);
      assert.ok(isStrataError(error, 'PS_ERR_IO'), `budget ${budget}: ${String(error)}`);
      assert.is(readFileSync(path, 'utf8'), 'old content');
      assert.equal(readdirSync(directory), ['file']);
    }
  }));

test('temp files left by a crash are removed at open', () =>
  withTempDirectory(async (directory) => {
    writeFileSync(join(directory, 'keep'), 'x');
    writeFileSync(join(directory, `layer.0123${TEMP_FILE_SUFFIX}`), 'partial');
    const removed = await removeTempFiles(nodeFs, directory);
    assert.equal(removed, [`layer.0123${TEMP_FILE_SUFFIX}`]);
    assert.equal(readdirSync(directory), ['keep']);
  }));

test.run();
