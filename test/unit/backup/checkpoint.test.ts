// encodeCheckPoint: the 88-byte layout pinned against a real PostgreSQL 15 checkPointCopy (golden
// bytes of test/fixtures/pg15-control-file.ts, fields as pg_controldata printed them), field
// offsets byte by byte, and decode(encode(x)) = x at the edges of every field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECKPOINT_BYTES, decodeCheckPoint, encodeCheckPoint, shutdownCheckpointAt, type CheckPoint } from '../../../src/backup/checkpoint.js';
import { CONTROL_FILE_CHECKPOINT_OFFSET } from '../../../src/wal/records/xlog.js';
import { REAL_CHECKPOINT_LOCATION, realControlFile } from '../../fixtures/pg15-control-file.js';

const realCopy = () => realControlFile().subarray(CONTROL_FILE_CHECKPOINT_OFFSET, CONTROL_FILE_CHECKPOINT_OFFSET + CHECKPOINT_BYTES);

test('a real checkPointCopy decodes to what pg_controldata printed and re-encodes byte for byte', () => {
  const bytes = realCopy();
  const checkpoint = decodeCheckPoint(bytes);
  assert.equal(checkpoint, {
    redo: REAL_CHECKPOINT_LOCATION, thisTimeLineId: 1, prevTimeLineId: 1, fullPageWrites: true, nextXid: 724n, nextOid: 13572,
    nextMulti: 1, nextMultiOffset: 0, oldestXid: 716, oldestXidDb: 1, oldestMulti: 1, oldestMultiDb: 1, time: checkpoint.time,
    oldestCommitTsXid: 0, newestCommitTsXid: 0, oldestActiveXid: 0,
  });
  assert.ok(checkpoint.time > 1_600_000_000n, 'time is pg_time_t seconds');
  assert.equal([...encodeCheckPoint(checkpoint)], [...bytes]);
});

test('every field lands at its offset, little-endian, padding zero', () => {
  const checkpoint: CheckPoint = {
    redo: 0x0102030405060708, thisTimeLineId: 0x11121314, prevTimeLineId: 0x15161718, fullPageWrites: true,
    nextXid: 0x2122232425262728n, nextOid: 0x31323334, nextMulti: 0x35363738, nextMultiOffset: 0x393a3b3c, oldestXid: 0x41424344,
    oldestXidDb: 0x45464748, oldestMulti: 0x494a4b4c, oldestMultiDb: 0x4d4e4f50, time: 0x5152535455565758n,
    oldestCommitTsXid: 0x61626364, newestCommitTsXid: 0x65666768, oldestActiveXid: 0x696a6b6c,
  };
  // redo is a JS number: 2^53 bounds it, so the test value is below.
  checkpoint.redo = 0x0002030405060708;
  const expected = [
    '0807060504030200', '14131211', '18171615', '01000000', '00000000', '2827262524232221',
    '34333231', '38373635', '3c3b3a39', '44434241', '48474645', '4c4b4a49', '504f4e4d', '00000000',
    '5857565554535251', '64636261', '68676665', '6c6b6a69', '00000000',
  ].join('');
  assert.is(Buffer.from(encodeCheckPoint(checkpoint)).toString('hex'), expected);
  assert.equal(decodeCheckPoint(encodeCheckPoint(checkpoint)), checkpoint);
});

test('round trip at the edges: epoch in nextXid, negative time, all-ones uint32 fields, fullPageWrites off', () => {
  const edges: CheckPoint = {
    redo: Number.MAX_SAFE_INTEGER, thisTimeLineId: 0xffffffff, prevTimeLineId: 0, fullPageWrites: false,
    nextXid: (0xffffffffn << 32n) | 0xfffffffen, nextOid: 0xffffffff, nextMulti: 0xffffffff, nextMultiOffset: 0xffffffff,
    oldestXid: 3, oldestXidDb: 0, oldestMulti: 1, oldestMultiDb: 0xffffffff, time: -1n, oldestCommitTsXid: 0xffffffff,
    newestCommitTsXid: 0, oldestActiveXid: 0xffffffff,
  };
  const bytes = encodeCheckPoint(edges);
  assert.is(bytes.length, CHECKPOINT_BYTES);
  assert.equal(decodeCheckPoint(bytes), edges);
});

test('encoding rejects values that do not fit their C type (programmer errors)', () => {
  const real = decodeCheckPoint(realCopy());
  assert.throws(() => encodeCheckPoint({ ...real, nextOid: 2 ** 32 }), /nextOid/);
  assert.throws(() => encodeCheckPoint({ ...real, oldestXid: -1 }), /oldestXid/);
  assert.throws(() => encodeCheckPoint({ ...real, nextXid: -1n }), /nextXid/);
});

test('shutdownCheckpointAt: redo is the location, no oldest active xid, the rest kept', () => {
  const real = { ...decodeCheckPoint(realCopy()), oldestActiveXid: 800 };
  const shutdown = shutdownCheckpointAt(real, 0x3000028, 1_800_000_000n);
  assert.equal(shutdown, { ...real, redo: 0x3000028, oldestActiveXid: 0, time: 1_800_000_000n });
  assert.is(shutdownCheckpointAt(real, 0x3000028).time, real.time);
});

test.run();
