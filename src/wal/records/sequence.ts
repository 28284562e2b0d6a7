/**
 * Typed decoder for the Sequence resource manager (commands/sequence.h of PostgreSQL 15).
 *
 * WHY: XLOG_SEQ_LOG rewrites the sequence's single page from the tuple it carries (block 0 is
 * registered with WILL_INIT); redo needs the tuple bytes.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_SEQ_LOG = 0x00;

export type SequenceRecord = { type: 'log'; rel: RelFileNode; tuple: Uint8Array };

export function decodeSequenceRecord(record: DecodedRecord): SequenceRecord {
  const reader = new BodyReader(record.mainData, 'sequence');
  switch (recordType(record.info)) {
    case XLOG_SEQ_LOG: return { type: 'log', rel: reader.relFileNode(), tuple: reader.rest() };
    default: throw unsupportedRecord('Sequence', record.info);
  }
}
