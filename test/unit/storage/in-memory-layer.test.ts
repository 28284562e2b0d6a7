/** In-memory layer versions and the reconstruct semantics of a search (MemoryTimelineStore). */
import { KEY_SPACE_END, KEY_SPACE_START } from '../../../src/storage/layer-name.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InMemoryLayer } from '../../../src/storage/in-memory-layer.js';
import { LayerMap } from '../../../src/storage/layer-map.js';
import { MemoryTimelineStore } from '../../../src/storage/memory-timeline-store.js';
import { decodeValue, WalRecordWriter, type ValueWriter } from '../../../src/storage/value-codec.js';
import { blockKey, image, page, record } from './storage-harness.js';

const key = blockKey(1);

test('an image at an LSN is returned alone at that LSN', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 100, image(1));
  const data = await store.getReconstructData(key, 100);
  assert.equal(data, { image: { lsn: 100, bytes: page(1) }, records: [] });
});

test('records after the image come oldest first, up to the request LSN', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 100, image(1));
  store.put(key, 200, record(2));
  store.put(key, 300, record(3));
  store.put(key, 400, record(4));
  const data = await store.getReconstructData(key, 350);
  assert.is(data?.image?.lsn, 100);
  assert.equal(data?.records.map((entry) => entry.lsn), [200, 300]);
  assert.equal(data?.records[1]?.value, record(3));
});

test('a request LSN below every version finds nothing', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 100, image(1));
  assert.is(await store.getReconstructData(key, 99), undefined);
  assert.is(await store.getReconstructData(blockKey(2), 1000), undefined);
});

test('a will-init record stops the search: no image, records from it on', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 10, image(1));
  store.put(key, 20, record(2));
  store.put(key, 30, record(3, true));
  store.put(key, 40, record(4));
  const data = await store.getReconstructData(key, 45);
  assert.is(data?.image, undefined);
  assert.equal(data?.records.map((entry) => [entry.lsn, entry.value.willInit]), [[30, true], [40, false]]);
  const older = await store.getReconstructData(key, 29);
  assert.equal(older?.image?.lsn, 10);
  assert.equal(older?.records.map((entry) => entry.lsn), [20]);
});

test('a newer image hides everything older', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 10, image(1));
  store.put(key, 20, record(2));
  store.put(key, 30, image(3));
  const data = await store.getReconstructData(key, 30);
  assert.equal(data, { image: { lsn: 30, bytes: page(3) }, records: [] });
});

test('a put at the same key and LSN replaces the previous value', async () => {
  const layer = new InMemoryLayer({ chunkBytes: 64 * 1024 });
  layer.put(key, 10, image(1));
  layer.put(key, 10, image(2));
  const map = new LayerMap();
  map.add(layer);
  assert.is(layer.versionCount, 1);
  assert.equal((await map.getReconstructData(key, 10))?.image?.bytes, page(2));
});

test('values larger than a quarter chunk get their own chunk and read back', async () => {
  const layer = new InMemoryLayer({ chunkBytes: 8192 });
  const map = new LayerMap();
  map.add(layer);
  for (let block = 0; block < 20; block++) layer.put(blockKey(block), 10 + block, block % 2 ? image(block) : record(block, false, 300));
  for (let block = 0; block < 20; block++) {
    const data = await map.getReconstructData(blockKey(block), 100);
    if (block % 2) assert.equal(data?.image?.bytes, page(block));
    else assert.equal(data?.records[0]?.value, record(block, false, 300));
  }
});

test('bytes held grow with every put', () => {
  const layer = new InMemoryLayer();
  const before = layer.bytesHeld;
  layer.put(key, 1, image(1));
  const afterImage = layer.bytesHeld;
  layer.put(key, 2, record(2));
  assert.ok(afterImage - before >= 8193, `image charged ${afterImage - before}`);
  assert.ok(layer.bytesHeld - afterImage >= 103, 'record charged at least its encoded size');
});

test('a frozen layer stays readable and refuses puts', async () => {
  const layer = new InMemoryLayer();
  layer.put(blockKey(3), 5, image(3));
  layer.put(blockKey(1), 6, image(1));
  layer.freeze(7);
  assert.is(layer.lsnEnd, 7);
  // Frozen layers become L0 deltas, which span the whole key space.
  assert.is(layer.keyStart, KEY_SPACE_START);
  assert.is(layer.keyEnd, KEY_SPACE_END);
  assert.throws(() => layer.put(blockKey(2), 8, image(2)));
  const map = new LayerMap();
  map.add(layer);
  assert.equal((await map.getReconstructData(blockKey(3), 100))?.image?.bytes, page(3));
});

test('returned pages are copies: modifying one does not change the store', async () => {
  const store = new MemoryTimelineStore();
  store.put(key, 10, image(1));
  const first = await store.getReconstructData(key, 10);
  first!.image!.bytes[0] = 0xff ^ first!.image!.bytes[0]!;
  const second = await store.getReconstructData(key, 10);
  assert.equal(second?.image?.bytes, page(1));
});

test('LSNs going backwards are a programmer error', () => {
  const store = new MemoryTimelineStore();
  store.put(key, 10, image(1));
  assert.throws(() => store.put(blockKey(2), 9, image(2)));
});

test('keysInRange lists keys with a value at or below the LSN', async () => {
  const store = new MemoryTimelineStore();
  store.put(blockKey(5), 10, image(5));
  store.put(blockKey(1), 20, image(1));
  store.put(blockKey(9), 30, image(9));
  assert.equal(await store.keysInRange(blockKey(0), blockKey(9), 25), [blockKey(1), blockKey(5)]);
  assert.equal(await store.keysInRange(blockKey(0), blockKey(10), 100), [blockKey(1), blockKey(5), blockKey(9)]);
});

test('putEncoded(high, low) is the key high + hex8(low), the same version put(key) would make', async () => {
  const layer = new InMemoryLayer();
  const high = blockKey(0x1234abcd).slice(0, 28);
  const bytes = Uint8Array.of(1, 2, 3, 4);
  layer.putEncoded(high, 0x1234abcd, 10, new WalRecordWriter().reset(bytes, 4, true));
  layer.put(blockKey(0x1234abcd), 20, record(2));
  assert.is(layer.keyCount, 1);
  const map = new LayerMap();
  map.add(layer);
  const data = await map.getReconstructData(blockKey(0x1234abcd), 20);
  assert.equal(data?.records.map((entry) => entry.value), [{ kind: 'walRecord', willInit: true, blockId: 4, record: bytes }, record(2)]);
});

test('entries() yield every version in string order of keys, whatever their shape', () => {
  const layer = new InMemoryLayer();
  const sizeKey = blockKey(0).slice(0, 28) + 'ffffffff';
  const keys = [blockKey(5), blockKey(3_000_000), blockKey(1, 99), sizeKey, blockKey(70), 'zz-not-a-key', blockKey(5, 7), '00ABCDEF' + '0'.repeat(28)];
  keys.forEach((key, index) => layer.put(key, 100 + index, image(index, 16)));
  layer.put(blockKey(5), 200, record(9));
  const listed = [...layer.entries()].map((entry) => [entry.key, entry.lsn]);
  const expected = keys.map((key, index) => [key, 100 + index] as [string, number]);
  expected.push([blockKey(5), 200]);
  expected.sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : left[1] - right[1]));
  assert.equal(listed, expected);
  const first = [...layer.entries()].find((entry) => entry.key === sizeKey);
  assert.equal(decodeValue(first!.encoded), image(3, 16));
});

test('entries() of canonical keys only: groups and block numbers sort as their hex strings', () => {
  const layer = new InMemoryLayer();
  const keys = [blockKey(16), blockKey(2, 20), blockKey(1), blockKey(0xffff_fffe), blockKey(2), blockKey(1, 20)];
  keys.forEach((key, index) => layer.put(key, 10 + index, record(index)));
  assert.equal([...layer.entries()].map((entry) => entry.key), [...keys].sort());
  layer.freeze(100);
  assert.is(layer.keyStart, KEY_SPACE_START);
});

test('a writer that throws stores nothing, and the layer stays usable', async () => {
  const layer = new InMemoryLayer({ chunkBytes: 8192 });
  const failing: ValueWriter = { encodedLength: 50, writeInto: () => { throw new Error('corrupt image'); } };
  const high = blockKey(0).slice(0, 28);
  assert.throws(() => layer.putEncoded(high, 7, 10, failing), /corrupt image/);
  assert.throws(() => layer.putEncoded(high, 7, 10, { encodedLength: 5000, writeInto: failing.writeInto }), /corrupt image/);
  assert.is(layer.versionCount, 0);
  assert.is(layer.keyCount, 0);
  layer.put(blockKey(7), 10, record(1));
  const map = new LayerMap();
  map.add(layer);
  assert.equal((await map.getReconstructData(blockKey(7), 10))?.records[0]?.value, record(1));
});

test('collectKeys and reads find keys with large and small block numbers alike', async () => {
  const store = new MemoryTimelineStore();
  [0, 1_048_575, 1_048_576, 0xffff_fffe].forEach((block, index) => store.put(blockKey(block), 10 + index, image(block & 0xff, 32)));
  assert.equal(await store.keysInRange(blockKey(0), blockKey(0xffff_fffe), 1e9), [blockKey(0), blockKey(1_048_575), blockKey(1_048_576)]);
  assert.equal((await store.getReconstructData(blockKey(0xffff_fffe), 1e9))?.image?.bytes, page(0xfe, 32));
  assert.is(await store.getReconstructData(blockKey(2), 1e9), undefined);
});

test.run();
