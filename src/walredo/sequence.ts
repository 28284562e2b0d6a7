/**
 * WAL redo of the Sequence resource manager (commands/sequence.c seq_redo, PostgreSQL 15).
 *
 * A sequence is one page holding one heap tuple. Its only record, XLOG_SEQ_LOG, carries that
 * tuple whole (after the RelFileNode in the main data), and block 0 is registered will-init: redo
 * rebuilds the page from nothing, so it never depends on the previous version:
 *   PageInit with a 4-byte special space (sequence_magic, MAXALIGNed to 8) holding SEQ_MAGIC,
 *   the tuple added at offset 1 (pd_upper = BLCKSZ - 8 - MAXALIGN(tuple length)), page LSN set.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { decodeSequenceRecord } from '../wal/records/sequence.js';
import type { DecodedRecord } from '../wal/types.js';
import { assert } from '../assert.js';
import { FIRST_OFFSET_NUMBER, INVALID_OFFSET_NUMBER, pageAddItem, pageGetSpecial, pageInit, pageSetLsn, writeU32 } from './page.js';
import type { RmgrRedo } from './types.js';

/** SEQ_MAGIC, stored in the special space of every sequence page. */
export const SEQ_MAGIC = 0x1717;
/** sizeof(sequence_magic). */
const SEQUENCE_MAGIC_SIZE = 4;

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Sequence redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'Sequence', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

/** seq_redo: the page becomes an empty sequence page holding the record's tuple. */
function sequenceBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  assert(page.length === 8192, 'a page is BLCKSZ bytes');
  if (blockId !== 0) throw redoError(record, blockId, 'a sequence record has only block 0');
  const decoded = decodeSequenceRecord(record);
  pageInit(page, SEQUENCE_MAGIC_SIZE);
  writeU32(page, pageGetSpecial(page), SEQ_MAGIC);
  const added = pageAddItem(page, decoded.tuple, FIRST_OFFSET_NUMBER, 0);
  if (added === INVALID_OFFSET_NUMBER) throw redoError(record, blockId, `failed to add a ${decoded.tuple.length}-byte tuple to the page`);
  pageSetLsn(page, record.endLsn);
}

export const sequenceRedo: RmgrRedo = { name: 'Sequence', redo: sequenceBlockRedo };
