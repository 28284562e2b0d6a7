/**
 * Typed decoder for the CLOG resource manager (access/clog.h of PostgreSQL 15).
 *
 * WHY: ZEROPAGE creates a CLOG SLRU page and TRUNCATE removes old segments; ingest mirrors both on
 * the SLRU keys. Commit status bits themselves come from xact records.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const CLOG_ZEROPAGE = 0x00;
export const CLOG_TRUNCATE = 0x10;

/** Two status bits per transaction: CLOG_XACTS_PER_PAGE = BLCKSZ * 4. */
export const CLOG_XACTS_PER_PAGE = 8192 * 4;

export type ClogRecord =
  | { type: 'zeroPage'; pageNumber: number }
  | { type: 'truncate'; pageNumber: number; oldestXact: number; oldestXactDb: number };

export function decodeClogRecord(record: DecodedRecord): ClogRecord {
  const reader = new BodyReader(record.mainData, 'clog');
  switch (recordType(record.info)) {
    case CLOG_ZEROPAGE: return { type: 'zeroPage', pageNumber: reader.i32() };
    case CLOG_TRUNCATE: return { type: 'truncate', pageNumber: reader.i32(), oldestXact: reader.u32(), oldestXactDb: reader.u32() };
    default: throw unsupportedRecord('CLOG', record.info);
  }
}
