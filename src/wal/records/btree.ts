/**
 * Typed decoder for the Btree resource manager (access/nbtxlog.h of PostgreSQL 15).
 *
 * WHY: redo of B-tree pages needs each record's main data struct; block data (new tuples, split
 * halves, dedup intervals, deleted/updated offsets) stays raw in `blocks` for redo to interpret in
 * the context of the page. Ingest stores btree records per block without reading them.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_BTREE_INSERT_LEAF = 0x00;
export const XLOG_BTREE_INSERT_UPPER = 0x10;
export const XLOG_BTREE_INSERT_META = 0x20;
export const XLOG_BTREE_SPLIT_L = 0x30;
export const XLOG_BTREE_SPLIT_R = 0x40;
export const XLOG_BTREE_INSERT_POST = 0x50;
export const XLOG_BTREE_DEDUP = 0x60;
export const XLOG_BTREE_DELETE = 0x70;
export const XLOG_BTREE_UNLINK_PAGE = 0x80;
export const XLOG_BTREE_UNLINK_PAGE_META = 0x90;
export const XLOG_BTREE_NEWROOT = 0xa0;
export const XLOG_BTREE_MARK_PAGE_HALFDEAD = 0xb0;
export const XLOG_BTREE_VACUUM = 0xc0;
export const XLOG_BTREE_REUSE_PAGE = 0xd0;
export const XLOG_BTREE_META_CLEANUP = 0xe0;

/** xl_btree_metadata, the block data of the metapage reference. */
export interface BtreeMetadata { version: number; root: number; level: number; fastRoot: number; fastLevel: number; lastCleanupDeletedPages: number; allEqualImage: boolean }

export type BtreeRecord =
  | { type: 'insertLeaf' | 'insertUpper' | 'insertMeta' | 'insertPost'; offsetNumber: number; metadata: BtreeMetadata | undefined }
  | { type: 'splitLeft' | 'splitRight'; level: number; firstRightOffset: number; newItemOffset: number; postingOffset: number }
  | { type: 'dedup'; intervalCount: number }
  | { type: 'delete'; latestRemovedXid: number; deletedCount: number; updatedCount: number }
  | { type: 'vacuum'; deletedCount: number; updatedCount: number }
  | { type: 'unlinkPage' | 'unlinkPageMeta'; leftSibling: number; rightSibling: number; level: number; safeXid: bigint; leafLeftSibling: number; leafRightSibling: number; leafTopParent: number; metadata: BtreeMetadata | undefined }
  | { type: 'newRoot'; rootBlock: number; level: number; metadata: BtreeMetadata | undefined }
  | { type: 'markPageHalfdead'; parentOffset: number; leafBlock: number; leftBlock: number; rightBlock: number; topParent: number }
  | { type: 'reusePage'; node: RelFileNode; block: number; latestRemovedFullXid: bigint }
  | { type: 'metaCleanup'; metadata: BtreeMetadata | undefined };

/** Reads xl_btree_metadata from the block data of `blockId`, when present. */
function metadataOf(record: DecodedRecord, blockId: number): BtreeMetadata | undefined {
  const block = record.blocks.find((candidate) => candidate.blockId === blockId);
  if (!block || block.data.length === 0) return undefined;
  const reader = new BodyReader(block.data, 'btree metadata');
  return {
    version: reader.u32(), root: reader.u32(), level: reader.u32(), fastRoot: reader.u32(), fastLevel: reader.u32(),
    lastCleanupDeletedPages: reader.u32(), allEqualImage: reader.bool(),
  };
}

export function decodeBtreeRecord(record: DecodedRecord): BtreeRecord {
  const reader = new BodyReader(record.mainData, 'btree');
  const type = recordType(record.info);
  switch (type) {
    case XLOG_BTREE_INSERT_LEAF: return { type: 'insertLeaf', offsetNumber: reader.u16(), metadata: undefined };
    case XLOG_BTREE_INSERT_UPPER: return { type: 'insertUpper', offsetNumber: reader.u16(), metadata: undefined };
    case XLOG_BTREE_INSERT_META: return { type: 'insertMeta', offsetNumber: reader.u16(), metadata: metadataOf(record, 2) };
    case XLOG_BTREE_INSERT_POST: return { type: 'insertPost', offsetNumber: reader.u16(), metadata: undefined };
    case XLOG_BTREE_SPLIT_L:
    case XLOG_BTREE_SPLIT_R: return {
      type: type === XLOG_BTREE_SPLIT_L ? 'splitLeft' : 'splitRight', level: reader.u32(), firstRightOffset: reader.u16(),
      newItemOffset: reader.u16(), postingOffset: reader.u16(),
    };
    case XLOG_BTREE_DEDUP: return { type: 'dedup', intervalCount: reader.u16() };
    case XLOG_BTREE_DELETE: return { type: 'delete', latestRemovedXid: reader.u32(), deletedCount: reader.u16(), updatedCount: reader.u16() };
    case XLOG_BTREE_VACUUM: return { type: 'vacuum', deletedCount: reader.u16(), updatedCount: reader.u16() };
    case XLOG_BTREE_UNLINK_PAGE:
    case XLOG_BTREE_UNLINK_PAGE_META: {
      const leftSibling = reader.u32();
      const rightSibling = reader.u32();
      const level = reader.u32();
      const safeXid = (reader.seek(16), BigInt.asUintN(64, reader.i64()));
      return {
        type: type === XLOG_BTREE_UNLINK_PAGE ? 'unlinkPage' : 'unlinkPageMeta', leftSibling, rightSibling, level, safeXid,
        leafLeftSibling: reader.u32(), leafRightSibling: reader.u32(), leafTopParent: reader.u32(),
        metadata: type === XLOG_BTREE_UNLINK_PAGE_META ? metadataOf(record, 4) : undefined,
      };
    }
    case XLOG_BTREE_NEWROOT: return { type: 'newRoot', rootBlock: reader.u32(), level: reader.u32(), metadata: metadataOf(record, 2) };
    case XLOG_BTREE_MARK_PAGE_HALFDEAD: return {
      type: 'markPageHalfdead', parentOffset: reader.u16(), leafBlock: (reader.seek(4), reader.u32()), leftBlock: reader.u32(),
      rightBlock: reader.u32(), topParent: reader.u32(),
    };
    case XLOG_BTREE_REUSE_PAGE: return { type: 'reusePage', node: reader.relFileNode(), block: reader.u32(), latestRemovedFullXid: BigInt.asUintN(64, reader.i64()) };
    case XLOG_BTREE_META_CLEANUP: return { type: 'metaCleanup', metadata: metadataOf(record, 0) };
    default: throw unsupportedRecord('Btree', record.info);
  }
}
