/** Delta and image layer files: write → read equal, and every corruption is PS_ERR_IO. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, truncateSync } from 'node:fs';
import { basename } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { openDeltaLayer, writeDeltaLayer, writeDeltaLayerSnapshot } from '../../../src/storage/delta-layer.js';
import { snapshotFrozenLayer } from '../../../src/storage/delta-layer-snapshot.js';
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { openImageLayer, writeImageLayer } from '../../../src/storage/image-layer.js';
import { InMemoryLayer } from '../../../src/storage/in-memory-layer.js';
import { HEADER_BYTES, LayerFileKind } from '../../../src/storage/layer-file-format.js';
import { LayerFileWriter } from '../../../src/storage/layer-file-writer.js';
import type { LayerFileReader } from '../../../src/storage/layer-file-reader.js';
import { KEY_SPACE_END, KEY_SPACE_START, parseLayerName } from '../../../src/storage/layer-name.js';
import type { Value } from '../../../src/value.js';
import { blockKey, image, page, record, withTempDirectory } from './storage-harness.js';

function sampleLayer(): { layer: InMemoryLayer; expected: { key: string; lsn: number; value: Value }[] } {
  const layer = new InMemoryLayer();
  const expected: { key: string; lsn: number; value: Value }[] = [];
  for (let step = 0; step < 60; step++) {
    const key = blockKey((step * 7) % 13);
    const value: Value = step % 5 === 0 ? image(step) : step % 7 === 0
      ? { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetAborted', xids: [step] } }
      : record(step, step % 11 === 0);
    layer.put(key, 1000 + step * 8, value);
    expected.push({ key, lsn: 1000 + step * 8, value });
  }
  layer.freeze(2000);
  expected.sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : left.lsn - right.lsn));
  return { layer, expected };
}

async function writeSample(directory: string): Promise<{ path: string; expected: ReturnType<typeof sampleLayer>['expected'] }> {
  const { layer, expected } = sampleLayer();
  const finished = await writeDeltaLayer({ fs: nodeFs, directory, layer });
  return { path: finished.path, expected };
}

async function openDelta(path: string, handles: FileHandleCache): Promise<LayerFileReader> {
  return openDeltaLayer(path, parseLayerName(basename(path))!, handles);
}

async function readAll(reader: LayerFileReader): Promise<{ key: string; lsn: number; value: Value }[]> {
  const entries = [];
  for await (const entry of reader.entries()) entries.push(entry);
  return entries;
}

async function expectIoError(action: () => Promise<unknown>, fileName: string): Promise<void> {
  try {
    await action();
    assert.unreachable('expected PS_ERR_IO');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    assert.ok((error as Error).message.includes(fileName), `error names the file: ${(error as Error).message}`);
  }
}

test('a delta layer reads back every version equal, with its ranges in name and header', () =>
  withTempDirectory(async (directory) => {
    const { path, expected } = await writeSample(directory);
    const handles = new FileHandleCache(nodeFs, 4);
    const reader = await openDelta(path, handles);
    assert.is(reader.lsnStart, 1000);
    assert.is(reader.lsnEnd, 2000);
    // A flushed layer is L0: its name and header span the whole key space (layer-map.ts).
    assert.is(reader.keyStart, KEY_SPACE_START);
    assert.is(reader.keyEnd, KEY_SPACE_END);
    assert.equal(await readAll(reader), expected);
    await handles.close();
  }));

test('the snapshot writer lays out the same bytes as the streaming LayerFileWriter', () =>
  withTempDirectory(async (directory) => {
    const { layer } = sampleLayer();
    const streamed = await LayerFileWriter.create(nodeFs, directory, LayerFileKind.Delta);
    for (const entry of layer.entries()) await streamed.add(entry.key, entry.lsn, entry.encoded);
    const reference = await streamed.finish({ lsnStart: layer.lsnStart, lsnEnd: layer.lsnEnd, keyStart: layer.keyStart, keyEnd: layer.keyEnd });
    const referenceBytes = readFileSync(reference.path);
    const snapshot = await snapshotFrozenLayer(layer, { shareMemory: true, sliceMs: Infinity });
    const finished = await writeDeltaLayerSnapshot({ fs: nodeFs, directory, snapshot });
    assert.is(finished.fileName, reference.fileName);
    assert.is(finished.entryCount, layer.versionCount);
    assert.ok(readFileSync(finished.path).equals(referenceBytes), 'byte-identical files');
  }));

test('a shared snapshot lists every version in order, its bytes in SharedArrayBuffers', async () => {
  const { layer, expected } = sampleLayer();
  const snapshot = await snapshotFrozenLayer(layer, { shareMemory: true, sliceMs: Infinity });
  assert.ok(snapshot.sources.every((source) => source instanceof SharedArrayBuffer));
  assert.is(snapshot.entryLsn.length, expected.length);
  const entries = [...layer.entries()];
  let entry = 0;
  for (let key = 0; key < snapshot.keyEntriesEnd.length; key++) {
    for (; entry < snapshot.keyEntriesEnd[key]!; entry++) {
      assert.is(snapshot.keysHex.slice(key * 36, key * 36 + 36), entries[entry]!.key);
      assert.is(snapshot.entryLsn[entry], entries[entry]!.lsn);
      const source = new Uint8Array(snapshot.sources[snapshot.entrySource[entry]!]!);
      const offset = snapshot.entryOffset[entry]!;
      const bytes = Buffer.from(source.subarray(offset, offset + snapshot.entryLength[entry]!));
      assert.ok(bytes.equals(entries[entry]!.encoded), `bytes of entry ${entry}`);
    }
  }
  assert.is(entry, expected.length);
});

test('a time-sliced snapshot yields to the event loop while it walks a large layer', async () => {
  const layer = new InMemoryLayer();
  for (let version = 0; version < 200_000; version++) layer.put(blockKey(version % 5000), 100 + version, record(version, false, 20));
  layer.freeze(1_000_000);
  let turns = 0;
  let ticking = true;
  const tick = (): void => { turns++; if (ticking) setImmediate(tick); };
  setImmediate(tick);
  const sliced = await snapshotFrozenLayer(layer, { shareMemory: true, sliceMs: 0.01 });
  const turnsSliced = turns;
  turns = 0;
  const unsliced = snapshotFrozenLayer(layer, { shareMemory: true, sliceMs: Infinity });
  const turnsDuringUnsliced = turns;
  await unsliced;
  ticking = false;
  assert.ok(turnsSliced > 5, `the event loop ran ${turnsSliced} times during the sliced walk`);
  assert.is(turnsDuringUnsliced, 0, 'an unsliced walk runs in one synchronous step');
  assert.is(sliced.entryLsn.length, 200_000);
});

test('collectVersions answers from the index, ascending and bounded by the LSN', () =>
  withTempDirectory(async (directory) => {
    const { path, expected } = await writeSample(directory);
    const handles = new FileHandleCache(nodeFs, 4);
    const reader = await openDelta(path, handles);
    const refs: Parameters<LayerFileReader['collectVersions']>[2] = [];
    reader.collectVersions(blockKey(7), 1200, refs);
    const want = expected.filter((entry) => entry.key === blockKey(7) && entry.lsn <= 1200).map((entry) => entry.lsn);
    assert.ok(want.length > 1);
    assert.equal(refs.map((ref) => ref.lsn), want);
    await handles.close();
  }));

test('a flipped byte in a value blob is PS_ERR_IO naming the file when read', () =>
  withTempDirectory(async (directory) => {
    const { path } = await writeSample(directory);
    const bytes = readFileSync(path);
    bytes[HEADER_BYTES + 5] = bytes[HEADER_BYTES + 5]! ^ 0x40;
    writeFileSync(path, bytes);
    const handles = new FileHandleCache(nodeFs, 4);
    const reader = await openDelta(path, handles);
    await expectIoError(() => readAll(reader), basename(path));
    await handles.close();
  }));

test('a flipped byte in the header, index or footer fails the open', () =>
  withTempDirectory(async (directory) => {
    const { path } = await writeSample(directory);
    const original = readFileSync(path);
    for (const offset of [10, 60, original.length - 100, original.length - 3]) {
      const bytes = Buffer.from(original);
      bytes[offset] = bytes[offset]! ^ 0x01;
      writeFileSync(path, bytes);
      const handles = new FileHandleCache(nodeFs, 4);
      await expectIoError(() => openDelta(path, handles), basename(path));
      await handles.close();
    }
  }));

test('a wrong magic fails the open', () =>
  withTempDirectory(async (directory) => {
    const { path } = await writeSample(directory);
    const bytes = readFileSync(path);
    bytes.write('XXXX', 0, 'latin1');
    writeFileSync(path, bytes);
    const handles = new FileHandleCache(nodeFs, 4);
    await expectIoError(() => openDelta(path, handles), basename(path));
    await handles.close();
  }));

test('a truncated file fails the open', () =>
  withTempDirectory(async (directory) => {
    const { path } = await writeSample(directory);
    for (const length of [readFileSync(path).length - 1, 200, 10, 0]) {
      truncateSync(path, length);
      const handles = new FileHandleCache(nodeFs, 4);
      await expectIoError(() => openDelta(path, handles), basename(path));
      await handles.close();
    }
  }));

test('image layers stream sorted entries, split at the target size, and read back', () =>
  withTempDirectory(async (directory) => {
    const entries = Array.from({ length: 10 }, (_, block) => [blockKey(block), page(block)] as const);
    const files = await writeImageLayer({ fs: nodeFs, directory, lsn: 500, entries, targetFileBytes: 3 * 8192 });
    assert.is(files.length, 4);
    const handles = new FileHandleCache(nodeFs, 2);
    const read: [string, Uint8Array][] = [];
    for (const file of files) {
      const reader = await openImageLayer(file.path, parseLayerName(file.fileName)!, handles);
      assert.is(reader.lsnStart, 500);
      for await (const entry of reader.entries()) {
        assert.is(entry.lsn, 500);
        assert.ok(entry.value.kind === 'image');
        read.push([entry.key, entry.value.bytes]);
      }
    }
    assert.equal(read, entries.map(([key, bytes]) => [key, bytes]));
    assert.ok(handles.size <= 2, 'the handle cache stays within its bound');
    await handles.close();
  }));

test('image entries out of order are refused and leave no file', () =>
  withTempDirectory(async (directory) => {
    const entries = [[blockKey(2), page(2)], [blockKey(1), page(1)]] as const;
    await writeImageLayer({ fs: nodeFs, directory, lsn: 5, entries, targetFileBytes: 1 << 20 }).then(
      () => assert.unreachable('unsorted input must fail'),
      (error: Error) => assert.match(error.message, /ascending/),
    );
    const { readdirSync } = await import('node:fs');
    assert.equal(readdirSync(directory), []);
  }));

test.run();
