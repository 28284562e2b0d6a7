// SLRU bookkeeping (zero pages, CLOG and multixact truncation with wraparound-aware comparisons,
// xid grouping by CLOG page) and the metadata value codec (round trips, refusal of bad headers).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlruKind, slruBlockKey } from '../../../src/keys.js';
import { MetadataCache } from '../../../src/ingest/metadata-cache.js';
import { decodeDbDir, decodeRelDir, decodeRelSize, decodeU32Set, encodeDbDir, encodeRelDir, encodeRelSize, encodeU32Set, DROPPED_RELATION } from '../../../src/ingest/metadata-codec.js';
import { getSlruSegmentSize, listSlruSegments } from '../../../src/ingest/metadata-readers.js';
import { groupXidsByClogPage, precedes32, putZeroPage, truncateClog, truncateMultiXact } from '../../../src/ingest/slru-ingest.js';
import { fsmBlocksAfterTruncate, vmBlocksAfterTruncate } from '../../../src/ingest/relation-ops.js';
import { MemoryStore } from '../../helpers/memory-store.js';

test('zero pages create segments and grow them; truncation removes whole old segments', async () => {
  const store = new MemoryStore();
  const cache = new MetadataCache(store, 0);
  for (const page of [0, 1, 31, 32, 65]) await putZeroPage(store, cache, 100, SlruKind.Clog, page);
  cache.flush(100);
  assert.equal(await listSlruSegments(store, SlruKind.Clog, 100), [0, 1, 2]);
  assert.is(await getSlruSegmentSize(store, SlruKind.Clog, 0, 100), 32);
  assert.is(await getSlruSegmentSize(store, SlruKind.Clog, 2, 100), 2);
  assert.is(store.getReconstructDataSync(slruBlockKey(SlruKind.Clog, 2, 1), 100)?.image?.bytes.length, 8192);
  // Cutoff page 70 rounds down to 64: segments 0 and 1 lie entirely before it.
  assert.is(await truncateClog(cache, 70), 2);
  cache.flush(200);
  assert.equal(await listSlruSegments(store, SlruKind.Clog, 200), [2]);
  assert.is(await getSlruSegmentSize(store, SlruKind.Clog, 0, 200), undefined);
  assert.equal(await listSlruSegments(store, SlruKind.Clog, 100), [0, 1, 2], 'earlier LSNs still see the segments');
});

test('multixact truncation: offsets before the cutoff, members in [start, end) with wraparound', async () => {
  const store = new MemoryStore();
  const cache = new MetadataCache(store, 0);
  for (const page of [0, 32, 64]) await putZeroPage(store, cache, 100, SlruKind.MultiXactOffsets, page);
  for (const page of [0, 32, 64, 96]) await putZeroPage(store, cache, 100, SlruKind.MultiXactMembers, page);
  cache.flush(100);
  // Oldest multi becomes 2048 * 64 + 1: its page is 64, so offsets segments 0 and 1 go.
  // Members offsets 0 .. 1636 * 32 * 2 cover member segments 0 and 1.
  await truncateMultiXact(cache, { endTruncateOffset: 2048 * 64 + 1, startTruncateMember: 0, endTruncateMember: 1636 * 32 * 2 });
  cache.flush(200);
  assert.equal(await listSlruSegments(store, SlruKind.MultiXactOffsets, 200), [2]);
  assert.equal(await listSlruSegments(store, SlruKind.MultiXactMembers, 200), [2, 3]);
});

test('xid comparison wraps modulo 2^32 and xids group by CLOG page', () => {
  assert.ok(precedes32(0xfffffff0, 5));
  assert.not.ok(precedes32(5, 0xfffffff0));
  assert.equal([...groupXidsByClogPage([5, 32768, 6, 70000])], [[0, [5, 6]], [1, [32768]], [2, [70000]]]);
});

test('FSM and VM truncation sizes follow freespace.c and visibilitymap.c', () => {
  assert.is(fsmBlocksAfterTruncate(0, 3), 2, 'no heap blocks: only the upper levels remain');
  assert.is(fsmBlocksAfterTruncate(0, 2), undefined, 'nothing to cut');
  assert.is(fsmBlocksAfterTruncate(4069, 5), 3, 'exactly one leaf page full: the second leaf (block 3) and after go');
  assert.is(fsmBlocksAfterTruncate(10, 3), 3);
  assert.is(vmBlocksAfterTruncate(0, 2), 0);
  assert.is(vmBlocksAfterTruncate(32672, 2), 1);
  assert.is(vmBlocksAfterTruncate(32673, 2), undefined);
  assert.is(vmBlocksAfterTruncate(5, 0), undefined);
});

test('metadata values round-trip and bad headers are refused', () => {
  assert.is(decodeRelSize(encodeRelSize(123456)), 123456);
  assert.is(decodeRelSize(DROPPED_RELATION), undefined);
  assert.equal([...encodeRelSize(3)], [0x53, 1, 0, 0, 3, 0, 0, 0]);
  const directory = new Map([[16390, 0b1001], [16384, 0b0111]]);
  assert.equal([...decodeRelDir(encodeRelDir(directory))], [[16384, 7], [16390, 9]]);
  assert.equal([...decodeDbDir(encodeDbDir(new Set(['1664/0', '1663/5'])))], ['1663/5', '1664/0']);
  assert.equal([...decodeU32Set(encodeU32Set(new Set([9, 2, 0xffffffff])))], [2, 9, 0xffffffff]);
  const bad = encodeRelSize(1);
  bad[1] = 2;
  assert.throws(() => decodeRelSize(bad), /bad relation size/);
  assert.throws(() => decodeRelDir(encodeRelSize(1)), /bad relation directory/);
});

test.run();
