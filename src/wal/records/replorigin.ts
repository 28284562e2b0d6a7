/**
 * Typed decoder for the ReplicationOrigin resource manager (replication/origin.h of PostgreSQL 15).
 *
 * WHY: origin progress lives in pg_logical/replorigin_checkpoint, not in relation pages; Strata
 * stores nothing for it, but decodes the records for waldump and completeness.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_REPLORIGIN_SET = 0x00;
export const XLOG_REPLORIGIN_DROP = 0x10;

export type ReplicationOriginRecord =
  | { type: 'set'; remoteLsn: number; nodeId: number; force: boolean }
  | { type: 'drop'; nodeId: number };

export function decodeReplicationOriginRecord(record: DecodedRecord): ReplicationOriginRecord {
  const reader = new BodyReader(record.mainData, 'replorigin');
  switch (recordType(record.info)) {
    case XLOG_REPLORIGIN_SET: return { type: 'set', remoteLsn: reader.u64(), nodeId: reader.u16(), force: reader.bool() };
    case XLOG_REPLORIGIN_DROP: return { type: 'drop', nodeId: reader.u16() };
    default: throw unsupportedRecord('ReplicationOrigin', record.info);
  }
}
