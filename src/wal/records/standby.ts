/**
 * Typed decoder for the Standby resource manager (storage/standbydefs.h of PostgreSQL 15).
 *
 * WHY: these records (locks, running transactions, invalidations) matter to hot standby only; they
 * change no storage, but waldump and a future snapshot builder read them.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';
import { SHARED_INVALIDATION_MESSAGE_BYTES } from './xact.js';

export const XLOG_STANDBY_LOCK = 0x00;
export const XLOG_RUNNING_XACTS = 0x10;
export const XLOG_INVALIDATIONS = 0x20;

export type StandbyRecord =
  | { type: 'lock'; locks: { xid: number; databaseOid: number; relationOid: number }[] }
  | { type: 'runningXacts'; xidCount: number; subxidCount: number; subxidOverflow: boolean; nextXid: number; oldestRunningXid: number; latestCompletedXid: number; xids: number[] }
  | { type: 'invalidations'; databaseOid: number; tablespaceOid: number; relcacheInitFileInvalidation: boolean; invalidationCount: number; invalidations: Uint8Array };

export function decodeStandbyRecord(record: DecodedRecord): StandbyRecord {
  const reader = new BodyReader(record.mainData, 'standby');
  switch (recordType(record.info)) {
    case XLOG_STANDBY_LOCK: {
      const count = reader.count(12);
      const locks = [];
      for (let index = 0; index < count; index++) locks.push({ xid: reader.u32(), databaseOid: reader.u32(), relationOid: reader.u32() });
      return { type: 'lock', locks };
    }
    case XLOG_RUNNING_XACTS: {
      const xidCount = reader.i32();
      const subxidCount = reader.i32();
      const subxidOverflow = reader.bool();
      reader.seek(12);
      const nextXid = reader.u32();
      const oldestRunningXid = reader.u32();
      const latestCompletedXid = reader.u32();
      return { type: 'runningXacts', xidCount, subxidCount, subxidOverflow, nextXid, oldestRunningXid, latestCompletedXid, xids: reader.u32Array(xidCount + subxidCount) };
    }
    case XLOG_INVALIDATIONS: {
      const databaseOid = reader.u32();
      const tablespaceOid = reader.u32();
      const relcacheInitFileInvalidation = reader.bool();
      reader.seek(12);
      const count = reader.count(SHARED_INVALIDATION_MESSAGE_BYTES);
      return { type: 'invalidations', databaseOid, tablespaceOid, relcacheInitFileInvalidation, invalidationCount: count, invalidations: reader.slice(count * SHARED_INVALIDATION_MESSAGE_BYTES) };
    }
    default: throw unsupportedRecord('Standby', record.info);
  }
}
