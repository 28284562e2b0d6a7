/**
 * The redo dispatcher: applies one WAL record to one page, as PostgreSQL's redo does to that
 * buffer: restore a full-page image when the record carries one to apply, otherwise hand the page
 * to the resource manager's routine (rmgr-table.ts), after the will-init and page-LSN rules of
 * XLogReadBufferForRedo / XLogInitBufferForRedo (types.ts).
 *
 * Every failure is a StrataError naming the record: PS_ERR_REDO_UNSUPPORTED for a record type
 * without a routine, PS_ERR_REDO_FAILED for anything a routine throws (a page not in the state
 * the record expects, a bug), with the rmgr, record info, LSN and block id in its context.
 */
import { isStrataError, StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { XLOG_HEAP2_VISIBLE, XLOG_HEAP_OPMASK } from '../wal/records/heap.js';
import { RMGR_NAMES, RmgrId, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import { findBlock } from './blocks.js';
import { decodeBlockImageAt } from '../wal/xlog-record.js';
import { stampRestoredImage } from '../page-lsn.js';
import { BLCKSZ, pageGetLsn, pageIsNew } from './page.js';
import { RMGR_REDO } from './rmgr-table.js';

export { findBlock };

/** Heap2 VISIBLE's block 0 (the VM page) is the only block redo reads with RBM_ZERO_ON_ERROR. */
function readsZeroOnError(record: DecodedRecord, block: DecodedBlock): boolean {
  return record.rmgrId === RmgrId.Heap2 && (record.info & XLOG_HEAP_OPMASK) === XLOG_HEAP2_VISIBLE && block.blockId === 0;
}

function describe(record: DecodedRecord, blockId: number): Record<string, unknown> {
  return { rmgr: RMGR_NAMES[record.rmgrId] ?? record.rmgrId, info: record.info, lsn: formatLsn(record.lsn), block_id: blockId };
}

/**
 * Applies `record` to `page` (BLCKSZ bytes, changed in place), the page its block reference
 * `blockId` names. Returns false when the page was already past the record (BLK_DONE: nothing done).
 */
export function redoBlock(page: Uint8Array, record: DecodedRecord, blockId: number): boolean {
  if (page.length !== BLCKSZ) throw new StrataError('PS_ERR_REDO_FAILED', `a page is ${BLCKSZ} bytes, got ${page.length}`);
  const block = findBlock(record, blockId);
  if (block === undefined) {
    throw new StrataError('PS_ERR_REDO_FAILED', `record at ${formatLsn(record.lsn)} has no block ${blockId}`, describe(record, blockId));
  }
  return redoBlockReference(page, record, block);
}

/**
 * redoBlock for a block reference the caller already holds (one of `record.blocks`) and a page it
 * knows to be BLCKSZ bytes: the replay loop's entry, which would otherwise look the block up again.
 */
export function redoBlockReference(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): boolean {
  try {
    if (block.hasImage && block.applyImage) {
      decodeBlockImageAt(block, page, 0);
      stampRestoredImage(page, 0, record.endLsn);
      RMGR_REDO[record.rmgrId]?.afterImageRestore?.(page, record, block.blockId);
      return true;
    }
    const rmgr = RMGR_REDO[record.rmgrId];
    if (rmgr === undefined) {
      throw new StrataError('PS_ERR_REDO_UNSUPPORTED', `no redo for resource manager ${RMGR_NAMES[record.rmgrId] ?? record.rmgrId}`, describe(record, block.blockId));
    }
    if (block.willInit) {
      page.fill(0);
    } else if (pageIsNew(page)) {
      // XLogReadBufferExtended in RBM_NORMAL mode finds no valid page (BLK_NOTFOUND: PostgreSQL
      // notes an invalid page and leaves it alone). Only the VM page of Heap2 VISIBLE is read
      // with RBM_ZERO_ON_ERROR, and its routine initializes it.
      if (!readsZeroOnError(record, block)) return false;
    } else if (pageGetLsn(page) >= record.endLsn) {
      return false;
    }
    rmgr.redo(page, record, block.blockId);
    return true;
  } catch (error) {
    if (isStrataError(error) && (error.code === 'PS_ERR_REDO_UNSUPPORTED' || error.code === 'PS_ERR_REDO_FAILED')) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StrataError('PS_ERR_REDO_FAILED', `redo of ${RMGR_NAMES[record.rmgrId] ?? record.rmgrId} record (info 0x${record.info.toString(16)}) at ${formatLsn(record.lsn)}, block ${block.blockId}: ${reason}`,
      describe(record, block.blockId), { cause: error });
  }
}
