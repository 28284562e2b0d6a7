/**
 * Typed decoder for the RelMap resource manager (utils/relmapper.h of PostgreSQL 15).
 *
 * WHY: an UPDATE carries the whole new pg_filenode.map (512 bytes) of a database or of the shared
 * catalogs; ingest stores it under the relmap key so mapped catalogs can be resolved.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_RELMAP_UPDATE = 0x00;
export const RELMAPPER_FILE_BYTES = 512;

export type RelMapRecord = { type: 'update'; databaseOid: number; tablespaceOid: number; data: Uint8Array };

export function decodeRelMapRecord(record: DecodedRecord): RelMapRecord {
  const reader = new BodyReader(record.mainData, 'relmap');
  switch (recordType(record.info)) {
    case XLOG_RELMAP_UPDATE: {
      const databaseOid = reader.u32();
      const tablespaceOid = reader.u32();
      const length = reader.count(1);
      return { type: 'update', databaseOid, tablespaceOid, data: reader.slice(length) };
    }
    default: throw unsupportedRecord('RelMap', record.info);
  }
}
