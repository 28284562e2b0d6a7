/**
 * Typed decoder for the LogicalMessage resource manager (replication/message.h of PostgreSQL 15).
 *
 * WHY: pg_logical_emit_message() records change no storage; decoded for waldump and completeness.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_LOGICAL_MESSAGE = 0x00;

export type LogicalMessageRecord = { type: 'message'; databaseOid: number; transactional: boolean; prefix: string; message: Uint8Array };

export function decodeLogicalMessageRecord(record: DecodedRecord): LogicalMessageRecord {
  const reader = new BodyReader(record.mainData, 'logical message');
  switch (recordType(record.info)) {
    case XLOG_LOGICAL_MESSAGE: {
      const databaseOid = reader.u32();
      const transactional = reader.bool();
      reader.seek(8);
      const prefixBytes = Number(reader.i64());
      const messageBytes = Number(reader.i64());
      const prefixField = reader.slice(prefixBytes);
      const end = prefixField.indexOf(0);
      const prefix = Buffer.from(prefixField.buffer, prefixField.byteOffset, end < 0 ? prefixBytes : end).toString('utf8');
      return { type: 'message', databaseOid, transactional, prefix, message: reader.slice(messageBytes) };
    }
    default: throw unsupportedRecord('LogicalMessage', record.info);
  }
}
