// WalIngest over an in-memory store with hand-built records: block values, implicit relation
// creation and extension, consistency-check images, smgr create/truncate, drops in commit
// records, CLOG and VM Strata records, two-phase files, checkpoints and database create/drop.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { controlFileCrcValid, hintBitsLogged } from '../../../src/ingest/control-file.js';
import { crc32c } from '../../../src/wal/crc32c.js';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, SlruKind, relBlockKey, slruBlockKey, twoPhaseFileKey } from '../../../src/keys.js';
import { silentLogger } from '../../../src/observability/log.js';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { getRelSize, listDatabases, listRelations, listTwoPhaseXids, relationExists } from '../../../src/ingest/metadata-readers.js';
import { RmgrId } from '../../../src/wal/types.js';
import { XLOG_SMGR_CREATE, XLOG_SMGR_TRUNCATE, SMGR_TRUNCATE_ALL } from '../../../src/wal/records/smgr.js';
import { XACT_XINFO_HAS_RELFILENODES, XACT_XINFO_HAS_SUBXACTS, XACT_XINFO_HAS_TWOPHASE, XLOG_XACT_COMMIT, XLOG_XACT_COMMIT_PREPARED, XLOG_XACT_HAS_INFO, XLOG_XACT_PREPARE } from '../../../src/wal/records/xact.js';
import { XLOG_HEAP2_VISIBLE, XLOG_HEAP_INSERT, XLOG_HEAP_UPDATE, XLH_INSERT_ALL_VISIBLE_CLEARED, XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED, XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED } from '../../../src/wal/records/heap.js';
import { XLOG_DBASE_CREATE_FILE_COPY, XLOG_DBASE_CREATE_WAL_LOG, XLOG_DBASE_DROP } from '../../../src/wal/records/dbase.js';
import { decodeCheckPoint, XLOG_CHECKPOINT_ONLINE, XLOG_PARAMETER_CHANGE } from '../../../src/wal/records/xlog.js';
import { XLOG_MULTIXACT_CREATE_ID } from '../../../src/wal/records/multixact.js';
import { pageGetLsn } from '../../../src/walredo/page.js';
import { encodeCheckPoint } from '../../../src/backup/checkpoint.js';
import { MemoryStore } from '../../helpers/memory-store.js';
import { StructWriter, makeBlock, makeRecord } from '../records/record-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const main = { ...rel, forkNumber: 0 };
const vm = { ...rel, forkNumber: 2 };
const page = (fill: number) => new Uint8Array(8192).fill(fill);

async function setup() {
  const store = new MemoryStore();
  const ingest = await WalIngest.create(store, { logger: silentLogger() });
  let lsn = 0x1000;
  const next = () => (lsn += 0x100);
  return { store, ingest, next };
}

const smgrCreate = (at: number, forkNumber = 0) =>
  makeRecord({ lsn: at, rmgrId: RmgrId.Storage, info: XLOG_SMGR_CREATE, mainData: new StructWriter().rel(rel).u32(forkNumber).bytes() });

test('a block reference stores the record and creates and extends the relation', async () => {
  const { store, ingest, next } = await setup();
  const record = makeRecord({ lsn: next(), rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: new StructWriter().u16(1).u8(0).bytes(), blocks: [makeBlock({ rel, blockNumber: 4, willInit: true })] });
  await ingest.ingest(record);
  const data = store.getReconstructDataSync(relBlockKey(main, 4), record.endLsn);
  assert.is(data?.records[0]?.value.kind, 'walRecord');
  assert.is(data?.records[0]?.value.willInit, true);
  assert.is(await getRelSize(store, main, record.endLsn), 5);
  assert.equal(await listRelations(store, 1663, 5, record.endLsn), [main]);
  assert.equal(await listDatabases(store, record.endLsn), [{ spcNode: 1663, dbNode: 5 }]);
  assert.is(await getRelSize(store, main, record.lsn), undefined);
});

test('an applied image is stored as an image; a verification-only image stores the record', async () => {
  const { store, ingest, next } = await setup();
  await ingest.ingest(smgrCreate(next()));
  const applied = makeRecord({ lsn: next(), rmgrId: RmgrId.Xlog, info: 0xb0, blocks: [makeBlock({ rel, blockNumber: 0, image: page(3) })] });
  await ingest.ingest(applied);
  const checkOnly = makeRecord({ lsn: next(), rmgrId: RmgrId.Btree, info: 0, mainData: new StructWriter().u16(1).bytes(), blocks: [makeBlock({ rel, blockNumber: 1, image: page(4), applyImage: false })] });
  await ingest.ingest(checkOnly);
  assert.is(store.getReconstructDataSync(relBlockKey(main, 0), applied.endLsn)?.image?.bytes[100], 3);
  const second = store.getReconstructDataSync(relBlockKey(main, 1), checkOnly.endLsn);
  assert.is(second?.image, undefined);
  assert.is(second?.records[0]?.value.kind, 'walRecord');
  assert.is(await getRelSize(store, main, checkOnly.endLsn), 2);
});

test('Heap2 VISIBLE: without logged hint bits the heap page gets HeapSetAllVisible; PARAMETER_CHANGE turning wal_log_hints on brings the record back', async () => {
  const store = new MemoryStore();
  const control = new Uint8Array(8192); // pg_control as the base backup brought it: no checksums, wal_log_hints off
  new DataView(control.buffer).setUint32(288, crc32c(control, 0, 288), true);
  store.put(CONTROL_FILE_KEY, 0x1000, { kind: 'image', bytes: control });
  const ingest = await WalIngest.create(store, { logger: silentLogger(), consistentLsn: 0x1000 });
  const visible = (lsn: number) => makeRecord({
    lsn, rmgrId: RmgrId.Heap2, info: XLOG_HEAP2_VISIBLE, mainData: new StructWriter().u32(700).u8(3).bytes(),
    blocks: [makeBlock({ rel, forkNumber: 2, blockNumber: 0 }), makeBlock({ blockId: 1, rel, blockNumber: 6 })],
  });
  const first = visible(0x1100);
  await ingest.ingest(first);
  assert.equal(store.getReconstructDataSync(relBlockKey(main, 6), first.endLsn)?.records.map((entry) => entry.value),
    [{ kind: 'strataRecord', willInit: false, record: { kind: 'HeapSetAllVisible' } }]);
  assert.is(store.getReconstructDataSync(relBlockKey(vm, 0), first.endLsn)?.records[0]?.value.kind, 'walRecord', 'the VM page keeps the record');
  const change = makeRecord({
    lsn: 0x1200, rmgrId: RmgrId.Xlog, info: XLOG_PARAMETER_CHANGE,
    mainData: new StructWriter().u32(100).u32(8).u32(10).u32(0).u32(64).u32(1).u8(1).u8(0).bytes(),
  });
  await ingest.ingest(change);
  const updated = store.getReconstructDataSync(CONTROL_FILE_KEY, change.endLsn)?.image?.bytes;
  assert.ok(updated !== undefined && hintBitsLogged(updated) && controlFileCrcValid(updated), 'pg_control took the new wal_log_hints, with its CRC');
  const second = visible(0x1300);
  await ingest.ingest(second);
  assert.is(store.getReconstructDataSync(relBlockKey(main, 6), second.endLsn)?.records.at(-1)?.value.kind, 'walRecord');
  const restarted = await WalIngest.create(store, { logger: silentLogger(), consistentLsn: second.endLsn });
  const third = visible(0x1400);
  await restarted.ingest(third);
  assert.is(store.getReconstructDataSync(relBlockKey(main, 6), third.endLsn)?.records.at(-1)?.value.kind, 'walRecord', 'a restart reads the setting back');
});

test('an image that redo changes after restoring it (GiST split child) is stored as its will-init record', async () => {
  const { store, ingest, next } = await setup();
  const update = makeRecord({ lsn: next(), rmgrId: RmgrId.Gist, info: 0x00, mainData: new StructWriter().u16(0).u16(0).bytes(), blocks: [
    makeBlock({ rel, blockNumber: 1, image: page(4) }),
    makeBlock({ blockId: 1, rel, blockNumber: 2, image: page(5) }),
  ] });
  await ingest.ingest(update);
  assert.is(store.getReconstructDataSync(relBlockKey(main, 1), update.endLsn)?.image?.bytes[100], 4, 'the updated page: its image');
  const child = store.getReconstructDataSync(relBlockKey(main, 2), update.endLsn);
  assert.is(child?.image, undefined);
  assert.equal(child?.records.map((entry) => [entry.value.kind, entry.value.willInit]), [['walRecord', true]], 'the left child: the record, will-init');
});

test('smgr truncate shrinks main, FSM and VM the way smgr_redo does', async () => {
  const { store, ingest, next } = await setup();
  await ingest.ingest(makeRecord({ lsn: next(), rmgrId: RmgrId.Xlog, info: 0xb0, blocks: [
    makeBlock({ rel, blockNumber: 99, image: page(1) }),
    makeBlock({ blockId: 1, rel, forkNumber: 1, blockNumber: 3, image: page(1) }),
    makeBlock({ blockId: 2, rel, forkNumber: 2, blockNumber: 1, image: page(1) }),
  ] }));
  const truncate = makeRecord({ lsn: next(), rmgrId: RmgrId.Storage, info: XLOG_SMGR_TRUNCATE, mainData: new StructWriter().u32(10).rel(rel).u32(SMGR_TRUNCATE_ALL).bytes() });
  await ingest.ingest(truncate);
  assert.is(await getRelSize(store, main, truncate.endLsn), 10);
  // 10 heap blocks: FSM leaf 0 holds slot 10 (> 0), so the FSM keeps pages 0..2 (root, level 1, leaf 0).
  assert.is(await getRelSize(store, { ...rel, forkNumber: 1 }, truncate.endLsn), 3);
  assert.is(await getRelSize(store, vm, truncate.endLsn), 1);
  assert.is(await getRelSize(store, main, truncate.lsn), 100);
  // The VM page that keeps heap blocks 0..9 loses the bits of 10 and up (visibilitymap_prepare_truncate).
  const vmPage = store.getReconstructDataSync(relBlockKey(vm, 0), truncate.endLsn);
  assert.equal(vmPage?.records[0]?.value.kind === 'strataRecord' && vmPage.records[0].value.record, { kind: 'TruncateVisibilityMap', heapBlocks: 10 });
});

test('commit with dropped relations removes them from then on; earlier LSNs still see them', async () => {
  const { store, ingest, next } = await setup();
  const create = smgrCreate(next());
  await ingest.ingest(create);
  await ingest.ingest(makeRecord({ lsn: next(), rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: new StructWriter().u16(1).u8(0).bytes(), blocks: [makeBlock({ rel, blockNumber: 0, willInit: true })] }));
  const body = new StructWriter().i64(1n).u32(XACT_XINFO_HAS_RELFILENODES | XACT_XINFO_HAS_SUBXACTS).u32(1).u32(901).u32(1).rel(rel).bytes();
  const commit = makeRecord({ lsn: next(), rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, xid: 900, mainData: body });
  await ingest.ingest(commit);
  assert.is(await relationExists(store, main, commit.endLsn), false);
  assert.equal(await listRelations(store, 1663, 5, commit.endLsn), []);
  assert.is(await getRelSize(store, main, commit.lsn), 1);
  const clog = store.getReconstructDataSync(slruBlockKey(SlruKind.Clog, 0, 0), commit.endLsn);
  assert.equal(clog?.records[0]?.value.kind === 'strataRecord' && clog.records[0].value.record, { kind: 'ClogSetCommitted', xids: [900, 901], timestamp: 1 });
});

test('heap insert and update that clear all-visible put VM records only where the VM exists', async () => {
  const { store, ingest, next } = await setup();
  await ingest.ingest(makeRecord({ lsn: next(), rmgrId: RmgrId.Heap2, info: 0x40, mainData: new StructWriter().u32(0).u8(1).bytes(), blocks: [
    makeBlock({ rel, forkNumber: 2, blockNumber: 0, willInit: false }), makeBlock({ blockId: 1, rel, blockNumber: 0 }),
  ] }));
  const insert = makeRecord({ lsn: next(), rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: new StructWriter().u16(1).u8(XLH_INSERT_ALL_VISIBLE_CLEARED).bytes(), blocks: [makeBlock({ rel, blockNumber: 5 })] });
  await ingest.ingest(insert);
  const vmData = store.getReconstructDataSync(relBlockKey(vm, 0), insert.endLsn);
  assert.equal(vmData?.records.at(-1)?.value.kind === 'strataRecord' && vmData.records.at(-1)!.value.record, { kind: 'ClearVisibilityMapFlags', heapBlocks: [5], flags: 3 });
  const flags = XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED | XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED;
  const update = makeRecord({ lsn: next(), rmgrId: RmgrId.Heap, info: XLOG_HEAP_UPDATE, mainData: new StructWriter().u32(1).u16(1).u8(0).u8(flags).u32(0).u16(1).bytes(), blocks: [
    makeBlock({ rel, blockNumber: 40000 }), makeBlock({ blockId: 1, rel, blockNumber: 6 }),
  ] });
  await ingest.ingest(update);
  const afterUpdate = store.getReconstructDataSync(relBlockKey(vm, 0), update.endLsn);
  assert.equal(afterUpdate?.records.at(-1)?.value.kind === 'strataRecord' && afterUpdate.records.at(-1)!.value.record, { kind: 'ClearVisibilityMapFlags', heapBlocks: [6], flags: 3 });
  assert.is(store.versions.has(relBlockKey(vm, 1)), false, 'VM page 1 does not exist: no record for heap block 40000');
});

test('prepare stores the two-phase state; commit prepared removes it and sets CLOG', async () => {
  const { store, ingest, next } = await setup();
  const state = new StructWriter().u32(0x57f94534).u32(72).u32(777).u32(5).i64(0n).u32(10).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u8(0).u8(0).u16(0).u64(0).i64(0n).bytes();
  const prepare = makeRecord({ lsn: next(), rmgrId: RmgrId.Transaction, info: XLOG_XACT_PREPARE, xid: 777, mainData: state });
  await ingest.ingest(prepare);
  assert.equal(await listTwoPhaseXids(store, prepare.endLsn), [777]);
  assert.equal([...(store.getReconstructDataSync(twoPhaseFileKey(777), prepare.endLsn)?.image?.bytes ?? [])], [...state]);
  const commit = makeRecord({ lsn: next(), rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT_PREPARED | XLOG_XACT_HAS_INFO, mainData: new StructWriter().i64(2n).u32(XACT_XINFO_HAS_TWOPHASE).u32(777).bytes() });
  await ingest.ingest(commit);
  assert.equal(await listTwoPhaseXids(store, commit.endLsn), []);
  const clog = store.getReconstructDataSync(slruBlockKey(SlruKind.Clog, 0, 0), commit.endLsn);
  assert.equal(clog?.records[0]?.value.kind === 'strataRecord' && clog.records[0].value.record, { kind: 'ClogSetCommitted', xids: [777], timestamp: 2 });
});

test('multixact create puts offsets and members records, split across member pages', async () => {
  const { store, ingest, next } = await setup();
  const body = new StructWriter().u32(2049).u32(1635).u32(2).u32(500).u32(1).u32(501).u32(3).bytes();
  const record = makeRecord({ lsn: next(), rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_CREATE_ID, mainData: body });
  await ingest.ingest(record);
  const offsets = store.getReconstructDataSync(slruBlockKey(SlruKind.MultiXactOffsets, 0, 1), record.endLsn);
  assert.equal(offsets?.records[0]?.value.kind === 'strataRecord' && offsets.records[0].value.record,
    { kind: 'MultixactOffsetsSet', entries: [{ multiXactId: 2049, offset: 1635 }, { multiXactId: 2050, offset: 1637 }] },
    'the new multixact and the next one (where its members will start), on one page');
  const page0 = store.getReconstructDataSync(slruBlockKey(SlruKind.MultiXactMembers, 0, 0), record.endLsn);
  const page1 = store.getReconstructDataSync(slruBlockKey(SlruKind.MultiXactMembers, 0, 1), record.endLsn);
  assert.equal(page0?.records[0]?.value.kind === 'strataRecord' && page0.records[0].value.record, { kind: 'MultixactMembersCreate', offset: 1635, members: [{ xid: 500, status: 1 }] });
  assert.equal(page1?.records[0]?.value.kind === 'strataRecord' && page1.records[0].value.record, { kind: 'MultixactMembersCreate', offset: 1636, members: [{ xid: 501, status: 3 }] });
});

test('a multixact at the end of an offsets page sets the next one on the next page', async () => {
  const { store, ingest, next } = await setup();
  const body = new StructWriter().u32(4095).u32(10).u32(1).u32(600).u32(1).bytes();
  const record = makeRecord({ lsn: next(), rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_CREATE_ID, mainData: body });
  await ingest.ingest(record);
  const page1 = store.getReconstructDataSync(slruBlockKey(SlruKind.MultiXactOffsets, 0, 1), record.endLsn);
  const page2 = store.getReconstructDataSync(slruBlockKey(SlruKind.MultiXactOffsets, 0, 2), record.endLsn);
  assert.equal(page1?.records[0]?.value.kind === 'strataRecord' && page1.records[0].value.record, { kind: 'MultixactOffsetCreate', multiXactId: 4095, offset: 10 });
  assert.equal(page2?.records[0]?.value.kind === 'strataRecord' && page2.records[0].value.record, { kind: 'MultixactOffsetCreate', multiXactId: 4096, offset: 11 });
});

test('checkpoint records are stored under the checkpoint key', async () => {
  const { store, ingest, next } = await setup();
  const body = encodeCheckPoint({
    redo: 0x1000, thisTimeLineId: 1, prevTimeLineId: 1, fullPageWrites: true, nextXid: 9999n, nextOid: 24576, nextMulti: 3, nextMultiOffset: 7,
    oldestXid: 716, oldestXidDb: 1, oldestMulti: 1, oldestMultiDb: 1, time: 1_700_000_000n, oldestCommitTsXid: 0, newestCommitTsXid: 0, oldestActiveXid: 9000,
  });
  const record = makeRecord({ lsn: next(), rmgrId: RmgrId.Xlog, info: XLOG_CHECKPOINT_ONLINE, mainData: body });
  await ingest.ingest(record);
  // Stored re-encoded (zero padding), with the record's fields.
  assert.equal(decodeCheckPoint(store.getReconstructDataSync(CHECKPOINT_KEY, record.endLsn)!.image!.bytes), decodeCheckPoint(body));
});

test('CREATE DATABASE file copy copies relations and pages; WAL_LOG creates the directory; DROP removes it', async () => {
  const { store, ingest, next } = await setup();
  const fpi = makeRecord({ lsn: next(), rmgrId: RmgrId.Xlog, info: 0xb0, blocks: [makeBlock({ rel, blockNumber: 1, image: page(7) })] });
  await ingest.ingest(fpi);
  const copy = makeRecord({ lsn: next(), rmgrId: RmgrId.Database, info: XLOG_DBASE_CREATE_FILE_COPY, mainData: new StructWriter().u32(6).u32(1663).u32(5).u32(1663).bytes() });
  await ingest.ingest(copy);
  const copied = { spcNode: 1663, dbNode: 6, relNode: rel.relNode, forkNumber: 0 };
  assert.is(await getRelSize(store, copied, copy.endLsn), 2);
  const copiedPage = store.getReconstructDataSync(relBlockKey(copied, 1), copy.endLsn)?.image?.bytes;
  assert.is(copiedPage?.[100], 7);
  assert.is(pageGetLsn(copiedPage!), fpi.endLsn, 'the FPI was stored as redo restores it; the copy keeps its LSN');
  assert.is(store.getReconstructDataSync(relBlockKey(copied, 0), copy.endLsn)?.image?.bytes[0], 0);
  const walLog = makeRecord({ lsn: next(), rmgrId: RmgrId.Database, info: XLOG_DBASE_CREATE_WAL_LOG, mainData: new StructWriter().u32(7).u32(1663).bytes() });
  await ingest.ingest(walLog);
  assert.equal((await listDatabases(store, walLog.endLsn)).map((entry) => entry.dbNode), [5, 6, 7]);
  const drop = makeRecord({ lsn: next(), rmgrId: RmgrId.Database, info: XLOG_DBASE_DROP, mainData: new StructWriter().u32(6).u32(1).u32(1663).bytes() });
  await ingest.ingest(drop);
  assert.equal((await listDatabases(store, drop.endLsn)).map((entry) => entry.dbNode), [5, 7]);
  assert.is(await getRelSize(store, copied, drop.endLsn), undefined);
  assert.is(await getRelSize(store, copied, drop.lsn), 2);
});

test('FILE_COPY of a page with records on top needs the page materializer', async () => {
  const build = () => [
    makeRecord({ lsn: 0x2000, rmgrId: RmgrId.Xlog, info: 0xb0, blocks: [makeBlock({ rel, blockNumber: 0, image: page(7) })] }),
    makeRecord({ lsn: 0x2100, rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: new StructWriter().u16(1).u8(0).bytes(), blocks: [makeBlock({ rel, blockNumber: 0 })] }),
    makeRecord({ lsn: 0x2200, rmgrId: RmgrId.Database, info: XLOG_DBASE_CREATE_FILE_COPY, mainData: new StructWriter().u32(6).u32(1663).u32(5).u32(1663).bytes() }),
  ];
  const plain = await WalIngest.create(new MemoryStore(), { logger: silentLogger() });
  const [image, insert, copy] = build();
  await plain.ingest(image!);
  await plain.ingest(insert!);
  await plain.ingest(copy!).then(() => assert.unreachable('must throw'), (error: { code?: string }) => assert.is(error.code, 'PS_ERR_REDO_UNSUPPORTED'));
  const store = new MemoryStore();
  const asked: string[] = [];
  const materialized = await WalIngest.create(store, { logger: silentLogger(), materializePage: async (key) => { asked.push(key); return page(8); } });
  for (const record of build()) await materialized.ingest(record);
  const copied = { spcNode: 1663, dbNode: 6, relNode: rel.relNode, forkNumber: 0 };
  assert.equal(asked, [relBlockKey(main, 0)]);
  assert.is(store.getReconstructDataSync(relBlockKey(copied, 0), 0x2240)?.image?.bytes[0], 8);
});

test('records ending at or before the consistent LSN are skipped', async () => {
  const store = new MemoryStore();
  const ingest = await WalIngest.create(store, { logger: silentLogger(), consistentLsn: 0x5000 });
  await ingest.ingest(smgrCreate(0x4000));
  assert.is(store.putCount, 0);
  await ingest.ingest(smgrCreate(0x5000));
  assert.is(await getRelSize(store, main, 0x5040), 0);
});

test.run();
