/**
 * Typed decoder for the Gist resource manager (access/gistxlog.h of PostgreSQL 15).
 *
 * WHY: redo of GiST pages needs the main data structs; deleted offsets and new index tuples stay
 * raw in the block data.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_GIST_PAGE_UPDATE = 0x00;
export const XLOG_GIST_DELETE = 0x10;
export const XLOG_GIST_PAGE_REUSE = 0x20;
export const XLOG_GIST_PAGE_SPLIT = 0x30;
export const XLOG_GIST_PAGE_DELETE = 0x60;
export const XLOG_GIST_ASSIGN_LSN = 0x70;

export type GistRecord =
  | { type: 'pageUpdate'; deleteCount: number; insertCount: number }
  | { type: 'delete'; latestRemovedXid: number; offsets: number[] }
  | { type: 'pageReuse'; node: RelFileNode; block: number; latestRemovedFullXid: bigint }
  | { type: 'pageSplit'; originalRightLink: number; originalNsn: number; originalLeaf: boolean; pageCount: number; markFollowRight: boolean }
  | { type: 'pageDelete'; deleteXid: bigint; downlinkOffset: number }
  | { type: 'assignLsn' };

export function decodeGistRecord(record: DecodedRecord): GistRecord {
  const reader = new BodyReader(record.mainData, 'gist');
  switch (recordType(record.info)) {
    case XLOG_GIST_PAGE_UPDATE: return { type: 'pageUpdate', deleteCount: reader.u16(), insertCount: reader.u16() };
    case XLOG_GIST_DELETE: {
      const latestRemovedXid = reader.u32();
      const count = reader.u16();
      return { type: 'delete', latestRemovedXid, offsets: reader.remaining >= count * 2 ? reader.u16Array(count) : [] };
    }
    case XLOG_GIST_PAGE_REUSE: return { type: 'pageReuse', node: reader.relFileNode(), block: reader.u32(), latestRemovedFullXid: BigInt.asUintN(64, reader.i64()) };
    case XLOG_GIST_PAGE_SPLIT: return {
      type: 'pageSplit', originalRightLink: reader.u32(), originalNsn: (reader.seek(8), reader.u64()), originalLeaf: reader.bool(),
      pageCount: (reader.seek(18), reader.u16()), markFollowRight: reader.bool(),
    };
    case XLOG_GIST_PAGE_DELETE: return { type: 'pageDelete', deleteXid: BigInt.asUintN(64, reader.i64()), downlinkOffset: reader.u16() };
    case XLOG_GIST_ASSIGN_LSN: return { type: 'assignLsn' };
    default: throw unsupportedRecord('Gist', record.info);
  }
}
