/**
 * Values kept by reference in the in-memory layer (putReferenced: full-page images with a hole and
 * WAL records lying in the WAL decoder's buffers): reads assemble the same Value a copy would give,
 * will-init is known from the shape, a registered buffer is charged once, and the flush writes the
 * same delta file bytes as for copied values.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { openDeltaLayer, writeDeltaLayerSnapshot } from '../../../src/storage/delta-layer.js';
import { snapshotFrozenLayer } from '../../../src/storage/delta-layer-snapshot.js';
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { InMemoryLayer } from '../../../src/storage/in-memory-layer.js';
import { LayerFileKind } from '../../../src/storage/layer-file-format.js';
import { LayerFileWriter } from '../../../src/storage/layer-file-writer.js';
import { parseLayerName } from '../../../src/storage/layer-name.js';
import type { VersionRef } from '../../../src/storage/searchable-layer.js';
import { holeField, SHAPE_IMAGE_VALUE, walRecordShape } from '../../../src/storage/value-codec.js';
import type { Value } from '../../../src/value.js';
import { blockKey, image, record, withTempDirectory } from './storage-harness.js';

const HIGH = blockKey(0).slice(0, 28);
const PAGE = 8192;

/** A "WAL buffer": filler bytes, in a SharedArrayBuffer as the decode thread's are. */
function walBuffer(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(new SharedArrayBuffer(length));
  for (let index = 0; index < length; index++) bytes[index] = (index * 7 + seed) & 0xff;
  return bytes;
}

/** `page` with pd_lsn set to `lsn` (below 2^32 here), as redo stamps a restored image. */
function withPageLsn(page: Uint8Array, lsn: number): Uint8Array {
  new DataView(page.buffer, page.byteOffset).setUint32(0, 0, true);
  new DataView(page.buffer, page.byteOffset).setUint32(4, lsn, true);
  return page;
}

function versionsOf(layer: InMemoryLayer, blockNumber: number, lsnMax = Number.MAX_SAFE_INTEGER): VersionRef[] {
  const refs: VersionRef[] = [];
  layer.collectVersions(blockKey(blockNumber), lsnMax, refs);
  return refs;
}

/** A layer with referenced images and records, interleaved with copied values. */
function mixedLayer(): { layer: InMemoryLayer; buffer: Uint8Array } {
  const buffer = walBuffer(64 * 1024, 3);
  const layer = new InMemoryLayer({ chunkBytes: 16 * 1024 });
  layer.putReferenced(HIGH, 1, 100, SHAPE_IMAGE_VALUE, holeField(300, 2000), buffer.subarray(1000), 24, PAGE - 2000);
  layer.put(blockKey(1), 200, record(5));
  layer.putReferenced(HIGH, 1, 300, walRecordShape(2, false), 0, buffer, 20_000, 150);
  layer.putReferenced(HIGH, 2, 300, walRecordShape(0, true), 0, buffer, 20_000, 150);
  layer.putReferenced(HIGH, 3, 400, SHAPE_IMAGE_VALUE, 0, buffer, 30_000, PAGE);
  layer.put(blockKey(4), 400, image(9));
  return { layer, buffer };
}

test('a referenced image reads back as the page with its hole of zeros put back', () => {
  const { layer, buffer } = mixedLayer();
  const [ref] = versionsOf(layer, 1, 100);
  assert.ok(ref);
  assert.is(ref.willInit, true);
  const value = layer.readValueNow(ref);
  const expected = new Uint8Array(PAGE);
  expected.set(buffer.subarray(1024, 1024 + 300), 0);
  expected.set(buffer.subarray(1024 + 300, 1024 + PAGE - 2000), 2300);
  withPageLsn(expected, 100);
  assert.equal(value, { kind: 'image', bytes: expected } satisfies Value);
  const [whole] = versionsOf(layer, 3);
  assert.equal(layer.readValueNow(whole!), { kind: 'image', bytes: withPageLsn(buffer.slice(30_000, 30_000 + PAGE), 400) } satisfies Value);
});

test('a referenced image of a new page (pd_upper 0) keeps its LSN; others take the value\'s LSN', () => {
  const buffer = walBuffer(2 * PAGE, 5);
  buffer.fill(0, PAGE + 14, PAGE + 16); // pd_upper 0 on the second page: PageIsNew
  buffer[PAGE + 3] = 0x77; // an LSN that must stay
  const layer = new InMemoryLayer({ chunkBytes: 16 * 1024 });
  layer.putReferenced(HIGH, 1, 0x1_2345_6788, SHAPE_IMAGE_VALUE, 0, buffer, 0, PAGE);
  layer.putReferenced(HIGH, 2, 0x1_2345_6790, SHAPE_IMAGE_VALUE, 0, buffer, PAGE, PAGE);
  const [stamped] = versionsOf(layer, 1);
  const [fresh] = versionsOf(layer, 2);
  const stampedPage = (layer.readValueNow(stamped!) as { bytes: Uint8Array }).bytes;
  assert.equal([...stampedPage.subarray(0, 8)], [1, 0, 0, 0, 0x88, 0x67, 0x45, 0x23], 'xlogid then xrecoff, little-endian');
  assert.equal(stampedPage.subarray(8), buffer.subarray(8, PAGE), 'only pd_lsn changed');
  assert.equal((layer.readValueNow(fresh!) as { bytes: Uint8Array }).bytes, buffer.slice(PAGE, 2 * PAGE), 'a new page is left as it is');
});

test('a referenced record reads back with its block id and will-init flag', () => {
  const { layer, buffer } = mixedLayer();
  const refs = versionsOf(layer, 1);
  assert.equal(refs.map((ref) => [ref.lsn, ref.willInit]), [[100, true], [200, false], [300, false]]);
  assert.equal(layer.readValueNow(refs[2]!), { kind: 'walRecord', willInit: false, blockId: 2, record: buffer.slice(20_000, 20_150) } satisfies Value);
  const [initializing] = versionsOf(layer, 2);
  assert.is(initializing!.willInit, true);
  assert.equal(layer.readValueNow(initializing!), { kind: 'walRecord', willInit: true, blockId: 0, record: buffer.slice(20_000, 20_150) } satisfies Value);
});

test('a read is a copy: the caller may change it without changing the layer', () => {
  const { layer } = mixedLayer();
  const [ref] = versionsOf(layer, 3);
  const first = layer.readValueNow(ref!);
  assert.ok(first.kind === 'image');
  first.bytes.fill(0);
  const second = layer.readValueNow(ref!);
  assert.ok(second.kind === 'image' && second.bytes.some((byte) => byte !== 0));
});

test('a registered buffer is charged to bytesHeld once, however many values it holds', () => {
  const buffer = walBuffer(1 << 20, 1);
  const layer = new InMemoryLayer();
  layer.putReferenced(HIGH, 1, 100, walRecordShape(0, false), 0, buffer, 0, 100);
  const afterFirst = layer.bytesHeld;
  assert.ok(afterFirst >= buffer.byteLength);
  for (let blockNumber = 2; blockNumber < 200; blockNumber++) {
    layer.putReferenced(HIGH, blockNumber, 100 + blockNumber, walRecordShape(0, false), 0, buffer, blockNumber * 100, 100);
  }
  assert.ok(layer.bytesHeld < afterFirst + 200 * 1024, `bytesHeld ${layer.bytesHeld} grew by the index only`);
  layer.putReferenced(HIGH, 1, 500, walRecordShape(0, false), 0, walBuffer(1 << 20, 2), 0, 100);
  assert.ok(layer.bytesHeld >= afterFirst + (1 << 20), 'a second buffer is charged');
});

test('a put at the same key and LSN replaces a referenced value', () => {
  const { layer } = mixedLayer();
  layer.put(blockKey(3), 400, record(7, true));
  const refs = versionsOf(layer, 3);
  assert.is(refs.length, 1);
  assert.equal(layer.readValueNow(refs[0]!), record(7, true));
});

test('the flush writes the same file as for copied values, and it reads back equal', () =>
  withTempDirectory(async (directory) => {
    const { layer } = mixedLayer();
    layer.freeze(1000);
    const expected = [...layer.entries()];
    const streamed = await LayerFileWriter.create(nodeFs, directory, LayerFileKind.Delta);
    for (const entry of expected) await streamed.add(entry.key, entry.lsn, entry.encoded);
    const reference = await streamed.finish({ lsnStart: layer.lsnStart, lsnEnd: layer.lsnEnd, keyStart: layer.keyStart, keyEnd: layer.keyEnd });
    const referenceBytes = readFileSync(reference.path);
    const snapshot = await snapshotFrozenLayer(layer, { shareMemory: true, sliceMs: Infinity });
    const finished = await writeDeltaLayerSnapshot({ fs: nodeFs, directory, snapshot });
    assert.ok(readFileSync(finished.path).equals(referenceBytes), 'byte-identical files');
    const handles = new FileHandleCache(nodeFs, 4);
    const reader = await openDeltaLayer(finished.path, parseLayerName(basename(finished.path))!, handles);
    const values: { key: string; lsn: number; value: Value }[] = [];
    for await (const entry of reader.entries()) values.push(entry);
    const refsOf = (blockNumber: number) => versionsOf(layer, blockNumber).map((ref) => layer.readValueNow(ref));
    assert.equal(values.filter((entry) => entry.key === blockKey(1)).map((entry) => entry.value), refsOf(1));
    assert.equal(values.filter((entry) => entry.key === blockKey(3)).map((entry) => entry.value), refsOf(3));
    assert.is(values.length, expected.length);
    await handles.close();
  }));

test.run();
