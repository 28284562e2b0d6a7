/**
 * Issue 9: every page Strata returns carries the page LSN PostgreSQL's redo gives it. Here the
 * boundary cases, from WAL bytes through the decoder and ingest to a read: a full-page image
 * (FPI and FPI_FOR_HINT, with a hole, compressed or not) takes its record's EndRecPtr, as
 * XLogReadBufferForRedoExtended stamps a restored image, whichever way ingest stores it; the image
 * of a new page (pd_upper 0) stays all zeros; a page read at a record's start does not have it,
 * read at its EndRecPtr it does; the redo dispatcher stamps an image the same way.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { relBlockKey } from '../../../src/keys.js';
import { silentLogger } from '../../../src/observability/log.js';
import { MemoryTimelineStore } from '../../../src/storage/memory-timeline-store.js';
import type { TimelineStore } from '../../../src/storage/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { pageGetLsn } from '../../../src/walredo/page.js';
import { reconstructPage } from '../../../src/walredo/reconstruct.js';
import { MemoryStore } from '../../helpers/memory-store.js';
import { PAGE, WalBuilder } from '../wal/wal-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const main = { ...rel, forkNumber: 0 };
const START = 0x3000000;
const XLOG_FPI_FOR_HINT = 0xa0;
const XLOG_FPI = 0xb0;
const BKPIMAGE_HAS_HOLE = 0x01;
const BKPIMAGE_APPLY = 0x02;
const BKPIMAGE_COMPRESS_PGLZ = 0x04;
const HOLE_OFFSET = 28;
const HOLE_END = 8000;

/** A standard page: LSN 0/100, one line pointer (pd_lower 28), tuple space from 8000. */
function standardPage(seed: number): Uint8Array {
  const page = new Uint8Array(PAGE);
  const view = new DataView(page.buffer);
  view.setUint32(4, 0x100, true);
  view.setUint16(12, HOLE_OFFSET, true);
  view.setUint16(14, HOLE_END, true);
  view.setUint16(16, PAGE, true);
  view.setUint16(18, PAGE | 4, true);
  for (let index = 24; index < HOLE_OFFSET; index++) page[index] = seed + index;
  for (let index = HOLE_END; index < PAGE; index++) page[index] = (seed * 7 + index) & 0xff;
  return page;
}

/** The page without its hole, as XLogRecordAssemble stores it. */
function withoutHole(page: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(PAGE - (HOLE_END - HOLE_OFFSET));
  bytes.set(page.subarray(0, HOLE_OFFSET));
  bytes.set(page.subarray(HOLE_END), HOLE_OFFSET);
  return bytes;
}

/** A valid pglz stream of literals only (a control byte of zeros before every eight bytes). */
function pglzLiterals(input: Uint8Array): Uint8Array {
  const output: number[] = [];
  for (let index = 0; index < input.length; index++) {
    if (index % 8 === 0) output.push(0);
    output.push(input[index]!);
  }
  return Uint8Array.from(output);
}

interface Workload { records: DecodedRecord[]; hinted: Uint8Array; compressed: Uint8Array }

function workload(): Workload {
  const hinted = standardPage(1);
  const compressed = standardPage(2);
  const wal = new WalBuilder(START);
  const image = (page: Uint8Array, info: number) => ({ bytes: withoutHole(page), holeOffset: HOLE_OFFSET, holeLength: HOLE_END - HOLE_OFFSET, info });
  wal.add({ rmgr: 0, info: XLOG_FPI_FOR_HINT, blocks: [{ id: 0, rel, block: 3, image: image(hinted, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY) }] });
  wal.add({ rmgr: 0, info: XLOG_FPI, blocks: [{ id: 0, rel, block: 4, image: { bytes: new Uint8Array(PAGE), holeOffset: 0, holeLength: 0, info: BKPIMAGE_APPLY } }] });
  const pglz = { ...image(compressed, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_PGLZ), bytes: pglzLiterals(withoutHole(compressed)) };
  wal.add({ rmgr: 0, info: XLOG_FPI, blocks: [{ id: 0, rel, block: 5, image: pglz }] });
  wal.add({ rmgr: 0, info: XLOG_FPI_FOR_HINT, blocks: [{ id: 0, rel, block: 3, image: image(standardPage(3), BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY) }] });
  wal.add({ rmgr: 0, info: XLOG_FPI_FOR_HINT, blocks: [{ id: 0, rel, block: 6 }] }); // full_page_writes off: no image
  const decoder = new WalStreamDecoder(START);
  decoder.feed(wal.bytes());
  const records: DecodedRecord[] = [];
  while (records.length < 5) {
    const record = decoder.next();
    if (record === undefined) break;
    records.push(record);
  }
  assert.is(records.length, 5);
  return { records, hinted, compressed };
}

async function pageAt(store: TimelineStore, block: number, lsn: number): Promise<Uint8Array> {
  const data = await store.getReconstructData(relBlockKey(main, block), lsn);
  assert.ok(data?.image !== undefined && data.records.length === 0, `block ${block} at ${lsn.toString(16)} is an image`);
  return data.image.bytes;
}

function expectedPage(page: Uint8Array, lsn: number): Uint8Array {
  const expected = page.slice();
  new DataView(expected.buffer).setUint32(0, 0, true);
  new DataView(expected.buffer).setUint32(4, lsn, true);
  return expected;
}

for (const [name, makeStore] of [
  ['objects (put)', () => new MemoryStore()],
  ['the in-memory layer (putReferenced, putEncoded)', () => new MemoryTimelineStore()],
] as const) {
  test(`images are stored as redo restores them, through ${name}`, async () => {
    const store: TimelineStore = makeStore();
    const ingest = await WalIngest.create(store, { logger: silentLogger() });
    const { records, hinted, compressed } = workload();
    for (const record of records.slice(0, 4)) await ingest.ingest(record);
    const [hint, fresh, packed, rehint] = records as [DecodedRecord, DecodedRecord, DecodedRecord, DecodedRecord];
    assert.is(hint.endLsn % 8, 0, 'EndRecPtr is MAXALIGNed');
    assert.equal(await pageAt(store, 3, hint.endLsn), expectedPage(hinted, hint.endLsn), 'FPI_FOR_HINT: the image with pd_lsn = EndRecPtr');
    assert.equal(await pageAt(store, 4, fresh.endLsn), new Uint8Array(PAGE), 'the image of a new page stays all zeros (PageIsNew)');
    assert.equal(await pageAt(store, 5, packed.endLsn), expectedPage(compressed, packed.endLsn), 'a compressed image is stamped too');
    assert.is(pageGetLsn(await pageAt(store, 3, rehint.lsn)), hint.endLsn, 'read at the next record\'s start: without it');
    assert.is(pageGetLsn(await pageAt(store, 3, rehint.endLsn - 8)), hint.endLsn, 'read inside the next record: without it');
    assert.is(pageGetLsn(await pageAt(store, 3, rehint.endLsn)), rehint.endLsn, 'read at its EndRecPtr: with it');
  });
}

test('an FPI_FOR_HINT block without an image (full_page_writes off) stores nothing, as xlog_redo skips it', async () => {
  const store = new MemoryTimelineStore();
  const ingest = await WalIngest.create(store, { logger: silentLogger() });
  const { records } = workload();
  await ingest.ingest(records[0]!);
  const bare = records[4]!;
  assert.is(bare.blocks[0]?.hasImage, false);
  await ingest.ingest(bare);
  assert.is(await store.getReconstructData(relBlockKey(main, 6), bare.endLsn), undefined, 'no value for the block');
});

test('the redo dispatcher stamps a restored image as ingest does', () => {
  const { records, hinted } = workload();
  const hint = records[0]!;
  const page = reconstructPage(relBlockKey(main, 3), {
    image: undefined,
    records: [{ lsn: hint.endLsn, value: { kind: 'walRecord', willInit: false, blockId: 0, record: hint.record.slice() } }],
  });
  assert.equal(page, expectedPage(hinted, hint.endLsn));
  const fresh = records[1]!;
  const zero = reconstructPage(relBlockKey(main, 4), {
    image: undefined,
    records: [{ lsn: fresh.endLsn, value: { kind: 'walRecord', willInit: false, blockId: 0, record: fresh.record.slice() } }],
  });
  assert.equal(zero, new Uint8Array(PAGE), 'a new page keeps no LSN');
});

test.run();
