/**
 * Typed decoder for the Storage resource manager (catalog/storage_xlog.h of PostgreSQL 15).
 *
 * WHY: relation file creation and truncation change relation sizes and directories, which ingest
 * keeps exact; the records reference no block, so only their main data says what changed.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_SMGR_CREATE = 0x10;
export const XLOG_SMGR_TRUNCATE = 0x20;

export const SMGR_TRUNCATE_HEAP = 0x0001;
export const SMGR_TRUNCATE_VM = 0x0002;
export const SMGR_TRUNCATE_FSM = 0x0004;
export const SMGR_TRUNCATE_ALL = SMGR_TRUNCATE_HEAP | SMGR_TRUNCATE_VM | SMGR_TRUNCATE_FSM;

export type SmgrRecord =
  | { type: 'create'; rel: RelFileNode; forkNumber: number }
  | { type: 'truncate'; blockNumber: number; rel: RelFileNode; flags: number };

export function decodeSmgrRecord(record: DecodedRecord): SmgrRecord {
  const reader = new BodyReader(record.mainData, 'smgr');
  switch (recordType(record.info)) {
    case XLOG_SMGR_CREATE: return { type: 'create', rel: reader.relFileNode(), forkNumber: reader.i32() };
    case XLOG_SMGR_TRUNCATE: return { type: 'truncate', blockNumber: reader.u32(), rel: reader.relFileNode(), flags: reader.i32() };
    default: throw unsupportedRecord('Storage', record.info);
  }
}
