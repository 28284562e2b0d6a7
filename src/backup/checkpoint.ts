/**
 * The CheckPoint struct of PostgreSQL 15 (catalog/pg_control.h), encoded as a 64-bit
 * little-endian server lays it out: the main data of a checkpoint record and the checkPointCopy
 * of pg_control.
 *
 * WHY an encoder: a full backup at an LSN that is not a checkpoint needs a checkpoint there. Strata
 * keeps the primary's current CheckPoint under CHECKPOINT_KEY (ingest advances it past every xid,
 * OID and multixact of the WAL, see src/ingest/checkpoint-tracker.ts) and writes it twice into
 * the backup: as the body of a synthesized shutdown checkpoint record (wal-segment.ts) and as the
 * copy in pg_control (control-file.ts). The decoder lives with the XLOG record decoder
 * (src/wal/records/xlog.ts); both sides share the type, so decode(encode(x)) is x.
 *
 *   offset  field                   offset  field
 *   0       redo u64                48      oldestXidDB u32
 *   8       ThisTimeLineID u32      52      oldestMulti u32
 *   12      PrevTimeLineID u32      56      oldestMultiDB u32
 *   16      fullPageWrites bool     60      (pad)
 *   24      nextXid u64 (epoch:xid) 64      time i64 (pg_time_t, seconds)
 *   32      nextOid u32             72      oldestCommitTsXid u32
 *   36      nextMulti u32           76      newestCommitTsXid u32
 *   40      nextMultiOffset u32     80      oldestActiveXid u32
 *   44      oldestXid u32           84      (pad) — 88 bytes
 *
 * Padding is zero, as in PostgreSQL (CreateCheckPoint zeroes the struct before filling it), so a
 * real record's main data re-encodes byte for byte (pinned by test/unit/backup/checkpoint.test.ts).
 */
import { assert } from '../assert.js';
import { CHECKPOINT_BYTES, decodeCheckPoint, type CheckPoint } from '../wal/records/xlog.js';

export { CHECKPOINT_BYTES, decodeCheckPoint, type CheckPoint };

const UINT32_MAX = 0xffff_ffff;

function assertUint32(value: number, name: string): void {
  assert(Number.isInteger(value) && value >= 0 && value <= UINT32_MAX, `CheckPoint.${name} is a uint32`);
}

export function encodeCheckPoint(checkpoint: CheckPoint): Uint8Array {
  assert(Number.isSafeInteger(checkpoint.redo) && checkpoint.redo >= 0, 'CheckPoint.redo is an LSN');
  assert(checkpoint.nextXid >= 0n && checkpoint.nextXid < 1n << 64n, 'CheckPoint.nextXid is a uint64');
  const bytes = new Uint8Array(CHECKPOINT_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(checkpoint.redo), true);
  const words: Array<[number, keyof CheckPoint]> = [
    [8, 'thisTimeLineId'], [12, 'prevTimeLineId'], [32, 'nextOid'], [36, 'nextMulti'], [40, 'nextMultiOffset'],
    [44, 'oldestXid'], [48, 'oldestXidDb'], [52, 'oldestMulti'], [56, 'oldestMultiDb'], [72, 'oldestCommitTsXid'],
    [76, 'newestCommitTsXid'], [80, 'oldestActiveXid'],
  ];
  for (const [offset, name] of words) {
    const value = checkpoint[name] as number;
    assertUint32(value, name);
    view.setUint32(offset, value, true);
  }
  view.setUint8(16, checkpoint.fullPageWrites ? 1 : 0);
  view.setBigUint64(24, checkpoint.nextXid, true);
  view.setBigInt64(64, BigInt.asIntN(64, checkpoint.time), true);
  return bytes;
}

/**
 * The checkpoint a backup's shutdown checkpoint record at `location` carries: the current one with
 * redo = location (the record is its own redo point, so startup replays nothing) and, as
 * CreateCheckPoint writes for a shutdown checkpoint, no oldest active xid. `timeSeconds` (pg_time_t)
 * replaces the time when given.
 */
export function shutdownCheckpointAt(checkpoint: CheckPoint, location: number, timeSeconds?: bigint): CheckPoint {
  assert(Number.isSafeInteger(location) && location > 0, 'a checkpoint location is a valid LSN');
  return { ...checkpoint, redo: location, oldestActiveXid: 0, time: timeSeconds ?? checkpoint.time };
}
