/**
 * Typed decoder for the CommitTs resource manager (access/commit_ts.h of PostgreSQL 15).
 *
 * WHY: with track_commit_timestamp the commit_ts SLRU gets zeroed and truncated by these records.
 * Strata does not store the commit_ts SLRU yet (see wal-ingest.ts); redo and waldump decode them.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const COMMIT_TS_ZEROPAGE = 0x00;
export const COMMIT_TS_TRUNCATE = 0x10;

export type CommitTsRecord =
  | { type: 'zeroPage'; pageNumber: number }
  | { type: 'truncate'; pageNumber: number; oldestXid: number };

export function decodeCommitTsRecord(record: DecodedRecord): CommitTsRecord {
  const reader = new BodyReader(record.mainData, 'commit_ts');
  switch (recordType(record.info)) {
    case COMMIT_TS_ZEROPAGE: return { type: 'zeroPage', pageNumber: reader.i32() };
    case COMMIT_TS_TRUNCATE: return { type: 'truncate', pageNumber: reader.i32(), oldestXid: reader.u32() };
    default: throw unsupportedRecord('CommitTs', record.info);
  }
}
