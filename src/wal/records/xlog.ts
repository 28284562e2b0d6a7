/**
 * Typed decoder for the XLOG resource manager (catalog/pg_control.h, xlog.c of PostgreSQL 15).
 *
 * WHY: checkpoint records carry the CheckPoint struct that Strata stores under the checkpoint key
 * (a compute's basebackup needs nextXid/nextOid/...); FPI records are plain block images the
 * generic block handling stores; the others are decoded for redo and `strata waldump`.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
export const XLOG_CHECKPOINT_ONLINE = 0x10;
export const XLOG_NOOP = 0x20;
export const XLOG_NEXTOID = 0x30;
export const XLOG_SWITCH = 0x40;
export const XLOG_BACKUP_END = 0x50;
export const XLOG_PARAMETER_CHANGE = 0x60;
export const XLOG_RESTORE_POINT = 0x70;
export const XLOG_FPW_CHANGE = 0x80;
export const XLOG_END_OF_RECOVERY = 0x90;
export const XLOG_FPI_FOR_HINT = 0xa0;
export const XLOG_FPI = 0xb0;
export const XLOG_OVERWRITE_CONTRECORD = 0xd0;

/** sizeof(CheckPoint) on 64-bit platforms. */
export const CHECKPOINT_BYTES = 88;
/** Offset of checkPointCopy inside ControlFileData. */
export const CONTROL_FILE_CHECKPOINT_OFFSET = 40;

export interface CheckPoint {
  redo: number;
  thisTimeLineId: number;
  prevTimeLineId: number;
  fullPageWrites: boolean;
  /** FullTransactionId (epoch << 32 | xid) as bigint. */
  nextXid: bigint;
  nextOid: number;
  nextMulti: number;
  nextMultiOffset: number;
  oldestXid: number;
  oldestXidDb: number;
  oldestMulti: number;
  oldestMultiDb: number;
  time: bigint;
  oldestCommitTsXid: number;
  newestCommitTsXid: number;
  oldestActiveXid: number;
}

export type XlogRecord =
  | { type: 'checkpointShutdown' | 'checkpointOnline'; checkpoint: CheckPoint; raw: Uint8Array }
  | { type: 'noop' | 'switch' | 'fpi' | 'fpiForHint' }
  | { type: 'nextOid'; nextOid: number }
  | { type: 'backupEnd'; startPoint: number }
  | { type: 'parameterChange'; maxConnections: number; maxWorkerProcesses: number; maxWalSenders: number; maxPreparedXacts: number; maxLocksPerXact: number; walLevel: number; walLogHints: boolean; trackCommitTimestamp: boolean }
  | { type: 'restorePoint'; time: bigint; name: string }
  | { type: 'fpwChange'; fullPageWrites: boolean }
  | { type: 'endOfRecovery'; endTime: bigint; thisTimeLineId: number; prevTimeLineId: number }
  | { type: 'overwriteContrecord'; overwrittenLsn: number; overwriteTime: bigint };

export function decodeCheckPoint(bytes: Uint8Array): CheckPoint {
  const reader = new BodyReader(bytes, 'CheckPoint');
  const redo = reader.u64();
  const thisTimeLineId = reader.u32();
  const prevTimeLineId = reader.u32();
  const fullPageWrites = reader.bool();
  reader.seek(24);
  const nextXid = BigInt.asUintN(64, reader.i64());
  return {
    redo, thisTimeLineId, prevTimeLineId, fullPageWrites, nextXid,
    nextOid: reader.u32(), nextMulti: reader.u32(), nextMultiOffset: reader.u32(), oldestXid: reader.u32(),
    oldestXidDb: reader.u32(), oldestMulti: reader.u32(), oldestMultiDb: reader.u32(),
    time: (reader.seek(64), reader.i64()), oldestCommitTsXid: reader.u32(), newestCommitTsXid: reader.u32(),
    oldestActiveXid: reader.u32(),
  };
}

export function decodeXlogRecord(record: DecodedRecord): XlogRecord {
  const reader = new BodyReader(record.mainData, 'xlog');
  switch (recordType(record.info)) {
    case XLOG_CHECKPOINT_SHUTDOWN: return { type: 'checkpointShutdown', checkpoint: decodeCheckPoint(record.mainData), raw: record.mainData };
    case XLOG_CHECKPOINT_ONLINE: return { type: 'checkpointOnline', checkpoint: decodeCheckPoint(record.mainData), raw: record.mainData };
    case XLOG_NOOP: return { type: 'noop' };
    case XLOG_SWITCH: return { type: 'switch' };
    case XLOG_FPI: return { type: 'fpi' };
    case XLOG_FPI_FOR_HINT: return { type: 'fpiForHint' };
    case XLOG_NEXTOID: return { type: 'nextOid', nextOid: reader.u32() };
    case XLOG_BACKUP_END: return { type: 'backupEnd', startPoint: reader.u64() };
    case XLOG_PARAMETER_CHANGE: return {
      type: 'parameterChange', maxConnections: reader.i32(), maxWorkerProcesses: reader.i32(), maxWalSenders: reader.i32(),
      maxPreparedXacts: reader.i32(), maxLocksPerXact: reader.i32(), walLevel: reader.i32(), walLogHints: reader.bool(),
      trackCommitTimestamp: reader.bool(),
    };
    case XLOG_RESTORE_POINT: return { type: 'restorePoint', time: reader.i64(), name: reader.fixedString(64) };
    case XLOG_FPW_CHANGE: return { type: 'fpwChange', fullPageWrites: reader.bool() };
    case XLOG_END_OF_RECOVERY: return { type: 'endOfRecovery', endTime: reader.i64(), thisTimeLineId: reader.u32(), prevTimeLineId: reader.u32() };
    case XLOG_OVERWRITE_CONTRECORD: return { type: 'overwriteContrecord', overwrittenLsn: reader.u64(), overwriteTime: reader.i64() };
    default: throw unsupportedRecord('XLOG', record.info);
  }
}
