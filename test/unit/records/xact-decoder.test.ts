// Typed decoding of Transaction records built byte by byte: commit with every optional part,
// abort (no invalidations), COMMIT PREPARED with GID and origin, and a PREPARE state header.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RmgrId } from '../../../src/wal/types.js';
import {
  XACT_XINFO_HAS_DBINFO, XACT_XINFO_HAS_DROPPED_STATS, XACT_XINFO_HAS_GID, XACT_XINFO_HAS_INVALS, XACT_XINFO_HAS_ORIGIN,
  XACT_XINFO_HAS_RELFILENODES, XACT_XINFO_HAS_SUBXACTS, XACT_XINFO_HAS_TWOPHASE, XLOG_XACT_ABORT, XLOG_XACT_COMMIT,
  XLOG_XACT_COMMIT_PREPARED, XLOG_XACT_HAS_INFO, XLOG_XACT_PREPARE, decodeXactRecord,
} from '../../../src/wal/records/xact.js';
import { StructWriter, makeRecord } from './record-builder.js';

const relA = { spcNode: 1663, dbNode: 5, relNode: 16384 };
const relB = { spcNode: 1663, dbNode: 5, relNode: 16390 };

test('commit with dbinfo, subxacts, dropped rels, stats and invalidations', () => {
  const xinfo = XACT_XINFO_HAS_DBINFO | XACT_XINFO_HAS_SUBXACTS | XACT_XINFO_HAS_RELFILENODES | XACT_XINFO_HAS_DROPPED_STATS | XACT_XINFO_HAS_INVALS;
  const body = new StructWriter().i64(123456789n).u32(xinfo).u32(5).u32(1663)
    .u32(2).u32(801).u32(802)
    .u32(2).rel(relA).rel(relB)
    .u32(1).u32(1).u32(5).u32(16384)
    .u32(2).raw(new Array(32).fill(7))
    .bytes();
  const decoded = decodeXactRecord(makeRecord({ lsn: 100, rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, xid: 800, mainData: body }));
  assert.is(decoded.type, 'commit');
  if (decoded.type !== 'commit') return;
  assert.is(decoded.xactTime, 123456789n);
  assert.is(decoded.databaseOid, 5);
  assert.is(decoded.tablespaceOid, 1663);
  assert.equal(decoded.subxacts, [801, 802]);
  assert.equal(decoded.droppedRels, [relA, relB]);
  assert.equal(decoded.droppedStats, [{ kind: 1, databaseOid: 5, objectOid: 16384 }]);
  assert.is(decoded.invalidationCount, 2);
  assert.is(decoded.invalidations.length, 32);
  assert.is(decoded.twoPhaseXid, 0);
});

test('commit without HAS_INFO carries only the time', () => {
  const decoded = decodeXactRecord(makeRecord({ lsn: 100, rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT, mainData: new StructWriter().i64(5n).bytes() }));
  assert.is(decoded.type, 'commit');
  if (decoded.type === 'commit') assert.equal([decoded.xinfo, decoded.subxacts.length, decoded.droppedRels.length], [0, 0, 0]);
});

test('abort parses subxacts and relations and has no invalidation section', () => {
  const xinfo = XACT_XINFO_HAS_SUBXACTS | XACT_XINFO_HAS_RELFILENODES;
  const body = new StructWriter().i64(9n).u32(xinfo).u32(1).u32(901).u32(1).rel(relB).bytes();
  const decoded = decodeXactRecord(makeRecord({ lsn: 100, rmgrId: RmgrId.Transaction, info: XLOG_XACT_ABORT | XLOG_XACT_HAS_INFO, mainData: body }));
  assert.is(decoded.type, 'abort');
  if (decoded.type !== 'abort') return;
  assert.equal(decoded.subxacts, [901]);
  assert.equal(decoded.droppedRels, [relB]);
});

test('commit prepared with two-phase xid, GID and unaligned origin', () => {
  const xinfo = XACT_XINFO_HAS_TWOPHASE | XACT_XINFO_HAS_GID | XACT_XINFO_HAS_ORIGIN;
  const body = new StructWriter().i64(1n).u32(xinfo).u32(4242).cstring('tx-1').u64(0x1_0000_0010).i64(77n).bytes();
  const decoded = decodeXactRecord(makeRecord({ lsn: 100, rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT_PREPARED | XLOG_XACT_HAS_INFO, mainData: body }));
  assert.is(decoded.type, 'commitPrepared');
  if (decoded.type !== 'commitPrepared') return;
  assert.is(decoded.twoPhaseXid, 4242);
  assert.is(decoded.gid, 'tx-1');
  assert.is(decoded.originLsn, 0x1_0000_0010);
  assert.is(decoded.originTimestamp, 77n);
});

test('prepare decodes the TwoPhaseFileHeader and its MAXALIGNed parts', () => {
  const writer = new StructWriter().u32(0x57f94534).u32(0).u32(555).u32(5).i64(1000n).u32(10)
    .u32(1).u32(1).u32(0).u32(0).u32(0).u32(0).u8(0).u8(0).u16(5).u64(0).i64(0n);
  writer.cstring('gid1').pad(8).u32(556).pad(8).rel(relA).pad(8);
  const body = writer.bytes();
  const decoded = decodeXactRecord(makeRecord({ lsn: 100, rmgrId: RmgrId.Transaction, info: XLOG_XACT_PREPARE, mainData: body }));
  assert.is(decoded.type, 'prepare');
  if (decoded.type !== 'prepare') return;
  assert.is(decoded.prepare.header.xid, 555);
  assert.is(decoded.prepare.gid, 'gid1');
  assert.equal(decoded.prepare.subxacts, [556]);
  assert.equal(decoded.prepare.commitRels, [relA]);
  assert.is(decoded.prepare.stateData, body);
});

test('a truncated commit body is corrupt WAL', () => {
  const body = new StructWriter().i64(1n).u32(XACT_XINFO_HAS_SUBXACTS).u32(3).u32(1).bytes();
  assert.throws(() => decodeXactRecord(makeRecord({ lsn: 1, rmgrId: RmgrId.Transaction, info: XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO, mainData: body })), /PS_ERR_WAL_CORRUPT|bad element count|too short/);
});

test.run();
