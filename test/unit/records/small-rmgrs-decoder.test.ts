// Typed decoding of the small resource managers: smgr truncate, dbase create/drop, standby
// running xacts, relmap update, CLOG truncate, checkpoint, logical message, and the dispatcher.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RmgrId } from '../../../src/wal/types.js';
import { decodeRecordBody } from '../../../src/wal/records/index.js';
import { decodeCheckPoint } from '../../../src/wal/records/xlog.js';
import { StructWriter, makeRecord } from './record-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };

test('smgr truncate: block, relation and flags', () => {
  const body = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Storage, info: 0x20, mainData: new StructWriter().u32(12).rel(rel).u32(7).bytes() }));
  assert.equal(body, { rmgr: 'Storage', body: { type: 'truncate', blockNumber: 12, rel, flags: 7 } });
});

test('dbase create (file copy) and drop with tablespaces', () => {
  const create = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Database, info: 0x00, mainData: new StructWriter().u32(6).u32(1663).u32(1).u32(1663).bytes() }));
  assert.equal(create.body, { type: 'createFileCopy', databaseOid: 6, tablespaceOid: 1663, sourceDatabaseOid: 1, sourceTablespaceOid: 1663 });
  const drop = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Database, info: 0x20, mainData: new StructWriter().u32(6).u32(2).u32(1663).u32(16999).bytes() }));
  assert.equal(drop.body, { type: 'drop', databaseOid: 6, tablespaceOids: [1663, 16999] });
});

test('standby running xacts: padded header then xids and subxids', () => {
  const main = new StructWriter().u32(2).u32(1).u8(0).pad(4).u32(900).u32(880).u32(899).u32(881).u32(882).u32(883).bytes();
  const body = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Standby, info: 0x10, mainData: main }));
  assert.equal(body.body, { type: 'runningXacts', xidCount: 2, subxidCount: 1, subxidOverflow: false, nextXid: 900, oldestRunningXid: 880, latestCompletedXid: 899, xids: [881, 882, 883] });
});

test('relmap update carries the 512-byte file', () => {
  const main = new StructWriter().u32(0).u32(1664).u32(512).raw(new Array(512).fill(3)).bytes();
  const body = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.RelMap, info: 0, mainData: main }));
  assert.ok(body.rmgr === 'RelMap' && body.body.tablespaceOid === 1664 && body.body.data.length === 512);
});

test('clog truncate and checkpoint layout', () => {
  const clog = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Clog, info: 0x10, mainData: new StructWriter().u32(3).u32(100000).u32(5).bytes() }));
  assert.equal(clog.body, { type: 'truncate', pageNumber: 3, oldestXact: 100000, oldestXactDb: 5 });
  const checkpoint = new StructWriter().u64(0x2000028).u32(1).u32(1).u8(1).pad(8).i64(740n).u32(24576).u32(1).u32(0).u32(716).u32(1).u32(1).u32(1)
    .pad(8).i64(1_700_000_000n).u32(0).u32(0).u32(740).pad(8).bytes();
  assert.is(checkpoint.length, 88);
  const decoded = decodeCheckPoint(checkpoint);
  assert.equal([decoded.redo, decoded.nextXid, decoded.nextOid, decoded.oldestXid, decoded.time, decoded.oldestActiveXid], [0x2000028, 740n, 24576, 716, 1_700_000_000n, 740]);
});

test('logical message: prefix and payload', () => {
  const main = new StructWriter().u32(5).u8(1).pad(8).i64(4n).i64(3n).cstring('pfx').raw([7, 8, 9]).bytes();
  const body = decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.LogicalMessage, info: 0, mainData: main }));
  assert.ok(body.rmgr === 'LogicalMessage' && body.body.prefix === 'pfx' && body.body.transactional && [...body.body.message].join() === '7,8,9');
});

test('an unknown record type is PS_ERR_WAL_UNSUPPORTED', () => {
  assert.throws(() => decodeRecordBody(makeRecord({ lsn: 1, rmgrId: RmgrId.Storage, info: 0x70 })), (error: { code?: string }) => error.code === 'PS_ERR_WAL_UNSUPPORTED');
});

test.run();
