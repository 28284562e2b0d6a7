// The ingest fast paths: block values written through TimelineStore.putEncoded (no Value objects,
// images decoded straight into layer memory) must store exactly what the plain put path stores,
// and plain commits/aborts (read from the main data's first bytes) must set the same CLOG bits as
// the full transaction decoder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlruKind, slruBlockKey } from '../../../src/keys.js';
import { silentLogger } from '../../../src/observability/log.js';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { MemoryTimelineStore } from '../../../src/storage/memory-timeline-store.js';
import type { TimelineStore } from '../../../src/storage/types.js';
import { RmgrId, type DecodedRecord } from '../../../src/wal/types.js';
import { XLOG_HEAP_INSERT, XLOG_HEAP_UPDATE } from '../../../src/wal/records/heap.js';
import { XACT_XINFO_HAS_DBINFO, XACT_XINFO_HAS_SUBXACTS, XLOG_XACT_ABORT, XLOG_XACT_COMMIT, XLOG_XACT_HAS_INFO } from '../../../src/wal/records/xact.js';
import { MemoryStore } from '../../helpers/memory-store.js';
import { StructWriter, makeBlock, makeRecord } from '../records/record-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const other = { spcNode: 1663, dbNode: 5, relNode: 16390 };

function patternPage(seed: number): Uint8Array {
  const page = new Uint8Array(8192);
  for (let index = 0; index < page.length; index++) page[index] = (seed * 31 + index * 7) & 0xff;
  return page;
}

/** A mix of block references: images, records, several blocks per record, two relations, a large block number. */
function sampleRecords(): DecodedRecord[] {
  const records: DecodedRecord[] = [];
  let lsn = 0x2000;
  const add = (options: Omit<Parameters<typeof makeRecord>[0], 'lsn'>) => records.push(makeRecord({ ...options, lsn: (lsn += 0x100) }));
  const insertBody = () => new StructWriter().u16(1).u8(0).bytes();
  add({ rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: insertBody(), blocks: [makeBlock({ rel, blockNumber: 0, image: patternPage(1) })] });
  add({ rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: insertBody(), blocks: [makeBlock({ rel, blockNumber: 0 })] });
  add({ rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: insertBody(), blocks: [makeBlock({ rel, blockNumber: 3, willInit: true })] });
  add({ rmgrId: RmgrId.Heap, info: XLOG_HEAP_UPDATE, mainData: new StructWriter().u32(1).u16(1).u8(0).u8(0).u32(0).u16(1).bytes(), blocks: [
    makeBlock({ rel, blockNumber: 3, image: patternPage(2) }), makeBlock({ blockId: 1, rel, blockNumber: 0 }),
  ] });
  add({ rmgrId: RmgrId.Btree, info: 0, mainData: new StructWriter().u16(1).bytes(), blocks: [
    makeBlock({ rel: other, blockNumber: 2_000_000 }), makeBlock({ blockId: 1, rel: other, blockNumber: 1 }),
    makeBlock({ blockId: 2, rel: other, blockNumber: 2, image: patternPage(3), applyImage: false }),
  ] });
  add({ rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: insertBody(), blocks: [makeBlock({ rel, blockNumber: 0, image: patternPage(4) })] });
  return records;
}

async function ingestAll(store: TimelineStore, records: readonly DecodedRecord[]): Promise<void> {
  const ingest = await WalIngest.create(store, { logger: silentLogger() });
  await ingest.ingestBatch(records);
}

test('putEncoded stores exactly what put stores, at every key and LSN', async () => {
  const records = sampleRecords();
  const plain = new MemoryStore();
  const fast = new MemoryTimelineStore();
  assert.is((plain as TimelineStore).putEncoded, undefined, 'the reference store has no fast path');
  assert.type(fast.putEncoded, 'function');
  await ingestAll(plain, records);
  await ingestAll(fast, records);
  assert.ok(plain.versions.size >= 8, 'the sample touched block and metadata keys');
  for (const [key, versions] of plain.versions) {
    for (const { lsn } of versions) {
      assert.equal(await fast.getReconstructData(key, lsn), plain.getReconstructDataSync(key, lsn), `${key} at ${lsn}`);
    }
  }
  assert.equal((await fast.keysInRange('0'.repeat(36), 'f'.repeat(36), 1e12)).sort(), [...plain.versions.keys()].sort());
});

async function clogRecordAfter(mainData: Uint8Array, info: number, xid: number) {
  const store = new MemoryStore();
  const record = makeRecord({ lsn: 0x3000, rmgrId: RmgrId.Transaction, info, xid, mainData });
  await ingestAll(store, [record]);
  const value = store.getReconstructDataSync(slruBlockKey(SlruKind.Clog, 0, 0), record.endLsn)?.records[0]?.value;
  return value?.kind === 'strataRecord' ? value.record : undefined;
}

test('a plain commit sets its xid committed with the exact int64 commit time', async () => {
  for (const time of [0n, 1n, 755_000_000_123_456n, (1n << 53n) + 3n, -5n]) {
    const record = await clogRecordAfter(new StructWriter().i64(time).bytes(), XLOG_XACT_COMMIT, 900);
    assert.equal(record, { kind: 'ClogSetCommitted', xids: [900], timestamp: Number(time) });
  }
});

test('a plain commit with xinfo (database info only) and a plain abort take the fast path correctly', async () => {
  const withInfo = new StructWriter().i64(7n).u32(XACT_XINFO_HAS_DBINFO).u32(5).u32(1663).bytes();
  assert.equal(await clogRecordAfter(withInfo, XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, 901), { kind: 'ClogSetCommitted', xids: [901], timestamp: 7 });
  assert.equal(await clogRecordAfter(new StructWriter().i64(8n).bytes(), XLOG_XACT_ABORT, 902), { kind: 'ClogSetAborted', xids: [902] });
});

test('a commit with subtransactions still sets every xid (full path)', async () => {
  const body = new StructWriter().i64(9n).u32(XACT_XINFO_HAS_SUBXACTS).u32(2).u32(904).u32(905).bytes();
  assert.equal(await clogRecordAfter(body, XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, 903), { kind: 'ClogSetCommitted', xids: [903, 904, 905], timestamp: 9 });
});

test('a commit without an xid stores no CLOG record', async () => {
  assert.is(await clogRecordAfter(new StructWriter().i64(1n).bytes(), XLOG_XACT_COMMIT, 0), undefined);
});

test.run();
