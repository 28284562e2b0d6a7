// The checkpoint key follows the WAL, not only checkpoint records: CheckpointTracker's arithmetic
// (nextXid rounded up to 1024, epoch on wraparound, special xids, CLOG-page safety, multixact
// counters, online vs shutdown checkpoints), and WalIngest writing it back at the end LSN of each
// record that changes it, on the object path (ingest/ingestBatch) and the packed path
// (ingestPacked), with the guarantee a backup relies on checked after every record.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCheckPoint, encodeCheckPoint, type CheckPoint } from '../../../src/backup/checkpoint.js';
import { CheckpointTracker, XID_ADVANCE_STEP } from '../../../src/ingest/checkpoint-tracker.js';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { CHECKPOINT_KEY } from '../../../src/keys.js';
import { silentLogger } from '../../../src/observability/log.js';
import { PackedRecordsBuilder } from '../../../src/wal/packed-records.js';
import { XLOG_MULTIXACT_CREATE_ID, XLOG_MULTIXACT_TRUNCATE_ID } from '../../../src/wal/records/multixact.js';
import { XACT_XINFO_HAS_SUBXACTS, XLOG_XACT_ASSIGNMENT, XLOG_XACT_COMMIT, XLOG_XACT_HAS_INFO } from '../../../src/wal/records/xact.js';
import { XLOG_CHECKPOINT_ONLINE, XLOG_CHECKPOINT_SHUTDOWN, XLOG_NEXTOID } from '../../../src/wal/records/xlog.js';
import { RmgrId, type DecodedRecord } from '../../../src/wal/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { MemoryStore } from '../../helpers/memory-store.js';
import { StructWriter, makeRecord } from '../records/record-builder.js';
import { WalBuilder } from '../wal/wal-builder.js';

const BASE: CheckPoint = {
  redo: 0x1000, thisTimeLineId: 1, prevTimeLineId: 1, fullPageWrites: true, nextXid: 724n, nextOid: 13572, nextMulti: 1,
  nextMultiOffset: 0, oldestXid: 716, oldestXidDb: 1, oldestMulti: 1, oldestMultiDb: 1, time: 1_700_000_000n,
  oldestCommitTsXid: 0, newestCommitTsXid: 0, oldestActiveXid: 0,
};
const full = (epoch: number, xid: number) => (BigInt(epoch) << 32n) | BigInt(xid);

test('nextXid: past the xid, rounded up to 1024; nothing for xids before it or the special ones', () => {
  const tracker = new CheckpointTracker(BASE);
  for (const xid of [0, 1, 2, 700, 723]) tracker.observeXid(xid);
  assert.is(tracker.takeChanged(), false);
  tracker.observeXid(724);
  assert.is(tracker.checkpoint.nextXid, 1024n);
  assert.is(tracker.takeChanged(), true);
  tracker.observeXid(1023);
  assert.is(tracker.takeChanged(), false, '1023 < 1024: no change');
  tracker.observeXid(1024);
  assert.is(tracker.checkpoint.nextXid, 2048n);
  tracker.observeXids([3000, 2500, 70_000]);
  assert.is(tracker.checkpoint.nextXid, 70_656n);
  assert.is(tracker.nextXidLow, 70_656);
});

test('nextXid across 2^32: the epoch increments and the special xids 0..2 are skipped', () => {
  const tracker = new CheckpointTracker({ ...BASE, nextXid: full(2, 0xfffff000) });
  tracker.observeXid(0xfffff800);
  assert.is(tracker.checkpoint.nextXid, full(2, 0xfffffc00));
  tracker.observeXid(0xfffffc01);
  assert.is(tracker.checkpoint.nextXid, full(3, 3), 'rounded to 2^32: the next epoch\'s FirstNormalTransactionId');
  tracker.observeXid(0xffffffff);
  assert.is(tracker.checkpoint.nextXid, full(3, 3), '0xffffffff precedes 3 modulo 2^32');
  tracker.observeXid(3);
  assert.is(tracker.checkpoint.nextXid, full(3, 1024));
  const wrapped = new CheckpointTracker({ ...BASE, nextXid: full(0, 0xfffffff0) });
  wrapped.observeXid(5); // an xid after the wrap, seen before any near 2^32
  assert.is(wrapped.checkpoint.nextXid, full(1, 1024));
  const old = new CheckpointTracker({ ...BASE, nextXid: full(1, 100) });
  old.observeXid(0x90000000); // more than 2^31 behind modulo 2^32: precedes, no change
  assert.is(old.takeChanged(), false);
});

test('the rounded nextXid is always on the xid\'s CLOG page or the first xid of the next one', () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let round = 0; round < 20_000; round++) {
    const start = random();
    const tracker = new CheckpointTracker({ ...BASE, nextXid: BigInt(Math.max(3, start)) });
    const xid = (Math.max(3, start) + (random() % 100_000)) >>> 0;
    tracker.observeXid(xid);
    const next = Number(tracker.checkpoint.nextXid & 0xffffffffn);
    if (!tracker.takeChanged()) continue;
    const samePage = Math.floor(next / 32768) === Math.floor(xid / 32768);
    const nextPageStart = next % 32768 === 0 || next === 3;
    assert.ok(samePage || nextPageStart, `xid ${xid} → nextXid ${next}`);
    assert.ok(next % XID_ADVANCE_STEP === 0 || next === 3, 'a multiple of the step');
  }
});

test('multixacts: counters past each creation, modulo 2^32, FirstMultiXactId after the wrap', () => {
  const tracker = new CheckpointTracker(BASE);
  tracker.observeMultiXact(1, 0, 2);
  assert.equal([tracker.checkpoint.nextMulti, tracker.checkpoint.nextMultiOffset], [2, 2]);
  tracker.observeMultiXact(1, 0, 2);
  assert.is(tracker.takeChanged(), true, 'the first creation changed it');
  tracker.observeMultiXact(1, 0, 2);
  assert.is(tracker.takeChanged(), false, 'a replay of the same creation does not');
  const wrapping = new CheckpointTracker({ ...BASE, nextMulti: 0xfffffff0, nextMultiOffset: 0xfffffffe });
  wrapping.observeMultiXact(0xffffffff, 0xfffffffe, 5);
  assert.equal([wrapping.checkpoint.nextMulti, wrapping.checkpoint.nextMultiOffset], [1, 3]);
  wrapping.observeMultiXactTruncate(0x7000, 5);
  assert.equal([wrapping.checkpoint.oldestMulti, wrapping.checkpoint.oldestMultiDb], [0x7000, 5]);
});

test('checkpoint records: shutdown replaces everything, online keeps the newer counters and our nextOid', () => {
  const tracker = new CheckpointTracker({ ...BASE, nextXid: 5120n, nextOid: 20000, nextMulti: 50, oldestXid: 800 });
  const record = { ...BASE, redo: 0x5000, nextXid: 4000n, nextOid: 16000, nextMulti: 40, oldestXid: 900, oldestActiveXid: 3999 };
  tracker.observeCheckpoint(record, false);
  assert.equal(tracker.checkpoint, { ...record, nextXid: 5120n, nextOid: 20000, nextMulti: 50 });
  tracker.observeCheckpoint(record, true);
  assert.equal(tracker.checkpoint, record);
  assert.is(tracker.nextXidLow, 4000);
});

// ---- WalIngest ----

async function ingestWithCheckpoint(checkpoint: CheckPoint) {
  const store = new MemoryStore();
  store.put(CHECKPOINT_KEY, 0x1000, { kind: 'image', bytes: encodeCheckPoint(checkpoint) });
  const ingest = await WalIngest.create(store, { logger: silentLogger(), consistentLsn: 0x1000 });
  return { store, ingest };
}

function checkpointAt(store: MemoryStore, lsn: number): CheckPoint {
  const bytes = store.getReconstructDataSync(CHECKPOINT_KEY, lsn)?.image?.bytes;
  assert.ok(bytes !== undefined, 'a checkpoint is stored');
  return decodeCheckPoint(bytes);
}

const checkpointVersions = (store: MemoryStore) => store.versions.get(CHECKPOINT_KEY)!.map((version) => version.lsn);

/** Records that move every counter, with what a compute needs after each. */
function workload(): Array<{ record: DecodedRecord; xids: number[]; nextOid?: number; multi?: [number, number] }> {
  let lsn = 0x2000;
  const at = () => (lsn += 0x100);
  const logical = (xid: number) => makeRecord({ lsn: at(), rmgrId: RmgrId.LogicalMessage, info: 0, xid, mainData: new Uint8Array(16) });
  const commitWithSubxacts = (xid: number, subxacts: number[]) => {
    const body = new StructWriter().i64(700_000_000n).u32(XACT_XINFO_HAS_SUBXACTS).u32(subxacts.length);
    for (const subxact of subxacts) body.u32(subxact);
    return makeRecord({ lsn: at(), rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, xid, mainData: body.bytes() });
  };
  const nextOid = (oid: number) => makeRecord({ lsn: at(), rmgrId: RmgrId.Xlog, info: XLOG_NEXTOID, mainData: new StructWriter().u32(oid).bytes() });
  const multiCreate = (multi: number, offset: number, memberXids: number[]) => {
    const body = new StructWriter().u32(multi).u32(offset).u32(memberXids.length);
    for (const xid of memberXids) body.u32(xid).u32(1);
    return makeRecord({ lsn: at(), rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_CREATE_ID, mainData: body.bytes() });
  };
  const assignment = (top: number, subxacts: number[]) => {
    const body = new StructWriter().u32(top).u32(subxacts.length);
    for (const subxact of subxacts) body.u32(subxact);
    return makeRecord({ lsn: at(), rmgrId: RmgrId.Transaction, info: XLOG_XACT_ASSIGNMENT, xid: top, mainData: body.bytes() });
  };
  return [
    { record: logical(0), xids: [] },
    { record: logical(800), xids: [800] },
    { record: logical(900), xids: [900] },
    { record: commitWithSubxacts(900, [901, 2100]), xids: [900, 901, 2100] },
    { record: nextOid(24576), xids: [], nextOid: 24576 },
    { record: multiCreate(5, 10, [5000, 4000, 3000]), xids: [5000], multi: [6, 13] },
    { record: assignment(6000, [6001, 7300]), xids: [6000, 7300] },
    { record: logical(7000), xids: [7000] },
  ];
}

test('WalIngest: the checkpoint key is past every xid, NEXTOID and multixact at the end of each record, written only on change', async () => {
  const { store, ingest } = await ingestWithCheckpoint(BASE);
  let maxXid = 0;
  let lastNextOid = BASE.nextOid;
  let multi: [number, number] = [BASE.nextMulti, BASE.nextMultiOffset];
  for (const step of workload()) {
    await ingest.ingest(step.record);
    for (const xid of step.xids) maxXid = Math.max(maxXid, xid);
    lastNextOid = step.nextOid ?? lastNextOid;
    multi = step.multi ?? multi;
    const checkpoint = checkpointAt(store, step.record.endLsn);
    assert.ok(checkpoint.nextXid > BigInt(maxXid), `nextXid ${checkpoint.nextXid} > ${maxXid}`);
    assert.is(checkpoint.nextOid, lastNextOid);
    assert.equal([checkpoint.nextMulti, checkpoint.nextMultiOffset], multi);
  }
  const [, x800, , commit, oid, multiCreate, assignment] = workload().map((step) => step.record.endLsn);
  assert.equal(checkpointVersions(store), [0x1000, x800, commit, oid, multiCreate, assignment], 'one value per changing record');
  assert.is(checkpointAt(store, x800!).nextXid, 1024n);
  assert.is(checkpointAt(store, commit!).nextXid, 3072n, 'past the subtransaction 2100');
  assert.is(checkpointAt(store, multiCreate!).nextXid, 5120n, 'past the member xid 5000');
  assert.is(checkpointAt(store, assignment!).nextXid, 8192n, 'past the assigned subtransaction 7300');
});

test('WalIngest: checkpoint records (online merged, shutdown taken), multixact truncation, and a restart continues from the key', async () => {
  const { store, ingest } = await ingestWithCheckpoint(BASE);
  let lsn = 0x2000;
  const at = () => (lsn += 0x100);
  await ingest.ingest(makeRecord({ lsn: at(), rmgrId: RmgrId.LogicalMessage, info: 0, xid: 3000, mainData: new Uint8Array(8) }));
  const online = makeRecord({ lsn: at(), rmgrId: RmgrId.Xlog, info: XLOG_CHECKPOINT_ONLINE, mainData: encodeCheckPoint({ ...BASE, redo: 0x2000, nextXid: 2000n, nextOid: 1 }) });
  await ingest.ingest(online);
  assert.equal(checkpointAt(store, online.endLsn), { ...BASE, redo: 0x2000, nextXid: 3072n });
  const truncate = makeRecord({ lsn: at(), rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_TRUNCATE_ID, mainData: new StructWriter().u32(7).u32(1).u32(9).u32(0).u32(40).bytes() });
  await ingest.ingest(truncate);
  assert.equal([checkpointAt(store, truncate.endLsn).oldestMulti, checkpointAt(store, truncate.endLsn).oldestMultiDb], [9, 7]);
  const shutdownBody = { ...BASE, redo: 0x3000, nextXid: 3010n, nextOid: 30000 };
  const shutdown = makeRecord({ lsn: at(), rmgrId: RmgrId.Xlog, info: XLOG_CHECKPOINT_SHUTDOWN, mainData: encodeCheckPoint(shutdownBody) });
  await ingest.ingest(shutdown);
  assert.equal(checkpointAt(store, shutdown.endLsn), shutdownBody);
  const restarted = await WalIngest.create(store, { logger: silentLogger(), consistentLsn: shutdown.endLsn });
  const after = makeRecord({ lsn: at(), rmgrId: RmgrId.LogicalMessage, info: 0, xid: 3010, mainData: new Uint8Array(8) });
  await restarted.ingest(after);
  assert.is(checkpointAt(store, after.endLsn).nextXid, 3072n, 'the restarted ingest started from the stored checkpoint');
});

test('WalIngest.ingestPacked keeps the checkpoint too (decoded WAL, the hot path)', async () => {
  const start = 0x3000000;
  const wal = new WalBuilder(start, { prevLsn: start - 0x100 });
  for (let index = 0; index < 3000; index++) wal.add({ rmgr: RmgrId.LogicalMessage, info: 0, xid: 1000 + index * 3, mainData: new Uint8Array(24) });
  wal.add({ rmgr: RmgrId.Xlog, info: XLOG_NEXTOID, mainData: new StructWriter().u32(40960).bytes() });
  const bytes = wal.bytes().subarray(0, wal.recordEnds[wal.recordEnds.length - 1]! - start);
  const decoder = new WalStreamDecoder(start);
  decoder.feed(bytes);
  const builder = new PackedRecordsBuilder();
  while (decoder.nextInto(builder)) { /* all records */ }
  const batch = builder.finish();
  assert.is(batch.count, 3001);
  const { store, ingest } = await ingestWithCheckpoint({ ...BASE, redo: start });
  await ingest.ingestPacked(batch, 0);
  for (let index = 0; index < 3000; index += 97) {
    const xid = 1000 + index * 3;
    assert.ok(checkpointAt(store, wal.recordEnds[index]!).nextXid > BigInt(xid), `past xid ${xid}`);
  }
  const last = checkpointAt(store, wal.recordEnds[3000]!);
  assert.equal([last.nextXid, last.nextOid], [10240n, 40960]);
  assert.is(checkpointVersions(store).length, 1 + 10 + 1, 'the initial value, one per 1024 xids (1024, 2048 … 10240), NEXTOID');
});

test.run();
