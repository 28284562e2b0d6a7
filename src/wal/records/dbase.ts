/**
 * Typed decoder for the Database resource manager (commands/dbcommands_xlog.h of PostgreSQL 15).
 *
 * WHY: CREATE DATABASE (FILE_COPY copies a whole database directory without per-page WAL;
 * WAL_LOG only creates the directory) and DROP DATABASE change directories wholesale.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_DBASE_CREATE_FILE_COPY = 0x00;
export const XLOG_DBASE_CREATE_WAL_LOG = 0x10;
export const XLOG_DBASE_DROP = 0x20;

export type DbaseRecord =
  | { type: 'createFileCopy'; databaseOid: number; tablespaceOid: number; sourceDatabaseOid: number; sourceTablespaceOid: number }
  | { type: 'createWalLog'; databaseOid: number; tablespaceOid: number }
  | { type: 'drop'; databaseOid: number; tablespaceOids: number[] };

export function decodeDbaseRecord(record: DecodedRecord): DbaseRecord {
  const reader = new BodyReader(record.mainData, 'dbase');
  switch (recordType(record.info)) {
    case XLOG_DBASE_CREATE_FILE_COPY: return {
      type: 'createFileCopy', databaseOid: reader.u32(), tablespaceOid: reader.u32(),
      sourceDatabaseOid: reader.u32(), sourceTablespaceOid: reader.u32(),
    };
    case XLOG_DBASE_CREATE_WAL_LOG: return { type: 'createWalLog', databaseOid: reader.u32(), tablespaceOid: reader.u32() };
    case XLOG_DBASE_DROP: {
      const databaseOid = reader.u32();
      return { type: 'drop', databaseOid, tablespaceOids: reader.u32Array(reader.count(4)) };
    }
    default: throw unsupportedRecord('Database', record.info);
  }
}
