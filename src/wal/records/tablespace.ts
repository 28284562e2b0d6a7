/**
 * Typed decoder for the Tablespace resource manager (commands/tablespace.h of PostgreSQL 15).
 *
 * WHY: tablespace creation and drop only create or remove directories on the primary; Strata keeps
 * no state for them (relations carry their tablespace in their key), but redo and waldump show them.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_TBLSPC_CREATE = 0x00;
export const XLOG_TBLSPC_DROP = 0x10;

export type TablespaceRecord =
  | { type: 'create'; tablespaceOid: number; path: string }
  | { type: 'drop'; tablespaceOid: number };

export function decodeTablespaceRecord(record: DecodedRecord): TablespaceRecord {
  const reader = new BodyReader(record.mainData, 'tablespace');
  switch (recordType(record.info)) {
    case XLOG_TBLSPC_CREATE: return { type: 'create', tablespaceOid: reader.u32(), path: reader.cstring() };
    case XLOG_TBLSPC_DROP: return { type: 'drop', tablespaceOid: reader.u32() };
    default: throw unsupportedRecord('Tablespace', record.info);
  }
}
