/**
 * The contract between the redo dispatcher (redo.ts) and the per-resource-manager redo modules
 * (heap.ts, btree.ts, ...): one pure function per rmgr that applies a record to one page.
 *
 * WHY per block: Strata reconstructs one page at a time (GetPage@LSN: the newest image of the key
 * plus the records after it), so a record that touches several pages (a heap update, a btree
 * split) is applied once per page, with the block id saying which of its pages this is. The
 * routine does exactly what PostgreSQL's redo does to that buffer, nothing to the others.
 *
 * Rules every routine follows (PostgreSQL's XLogReadBufferForRedo / XLogInitBufferForRedo):
 * - The dispatcher has already handled a full-page image to apply (BKPIMAGE_APPLY): routines only
 *   see blocks that need their redo.
 * - A block with will-init gets an all-zero page; the routine initializes it (PageInit etc.).
 * - Otherwise the dispatcher skips the block when the page LSN is at or past the record's end
 *   (BLK_DONE); the routine runs on a page whose LSN is below it.
 * - The routine sets the page LSN to `record.endLsn` (PageSetLSN(page, EndRecPtr)) where
 *   PostgreSQL does: mostly at the end of every block it modified.
 * - A record type the module does not handle, or a page not in the state the record expects,
 *   throws StrataError PS_ERR_REDO_FAILED (or PS_ERR_REDO_UNSUPPORTED for a record type that is
 *   not implemented) naming the record type: never a silently wrong page.
 */
import type { DecodedRecord } from '../wal/types.js';

/** Applies `record` to `page` (BLCKSZ bytes, modified in place), the page of block `blockId`. */
export type BlockRedo = (page: Uint8Array, record: DecodedRecord, blockId: number) => void;

/** Masks what PostgreSQL's rm_mask masks before comparing pages (wal_consistency_checking). */
export type PageMask = (page: Uint8Array, blockNumber: number) => void;

export interface RmgrRedo {
  readonly name: string;
  readonly redo: BlockRedo;
  /**
   * For the few records PostgreSQL still changes a page after restoring its full-page image
   * (XLogReadBufferForRedo returning BLK_RESTORED, e.g. GiST's follow-right clear on the left
   * child): runs after the dispatcher restored the image. Absent for most rmgrs.
   */
  readonly afterImageRestore?: (page: Uint8Array, record: DecodedRecord, blockId: number) => void;
}
