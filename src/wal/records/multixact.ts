/**
 * Typed decoder for the MultiXact resource manager (access/multixact.h of PostgreSQL 15).
 *
 * WHY: CREATE_ID writes an offsets entry and member entries on SLRU pages the record does not
 * reference as blocks; ingest turns it into Strata records on those pages. ZERO_* create pages,
 * TRUNCATE_ID removes segments of both SLRUs.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_MULTIXACT_ZERO_OFF_PAGE = 0x00;
export const XLOG_MULTIXACT_ZERO_MEM_PAGE = 0x10;
export const XLOG_MULTIXACT_CREATE_ID = 0x20;
export const XLOG_MULTIXACT_TRUNCATE_ID = 0x30;

/** One MultiXactOffset (u32) per multixact on an offsets page. */
export const MULTIXACT_OFFSETS_PER_PAGE = 8192 / 4;
/** Members are stored in groups of four: four flag bytes then four xids (20 bytes). */
export const MULTIXACT_MEMBERS_PER_MEMBERGROUP = 4;
export const MULTIXACT_MEMBERGROUP_BYTES = 20;
export const MULTIXACT_MEMBERGROUPS_PER_PAGE = Math.floor(8192 / MULTIXACT_MEMBERGROUP_BYTES);
export const MULTIXACT_MEMBERS_PER_PAGE = MULTIXACT_MEMBERGROUPS_PER_PAGE * MULTIXACT_MEMBERS_PER_MEMBERGROUP;

export interface MultiXactMember { xid: number; status: number }

export type MultiXactRecord =
  | { type: 'zeroOffsetsPage' | 'zeroMembersPage'; pageNumber: number }
  | { type: 'create'; multiXactId: number; offset: number; members: MultiXactMember[] }
  | { type: 'truncate'; oldestMultiDb: number; startTruncateOffset: number; endTruncateOffset: number; startTruncateMember: number; endTruncateMember: number };

export function decodeMultiXactRecord(record: DecodedRecord): MultiXactRecord {
  const reader = new BodyReader(record.mainData, 'multixact');
  switch (recordType(record.info)) {
    case XLOG_MULTIXACT_ZERO_OFF_PAGE: return { type: 'zeroOffsetsPage', pageNumber: reader.i32() };
    case XLOG_MULTIXACT_ZERO_MEM_PAGE: return { type: 'zeroMembersPage', pageNumber: reader.i32() };
    case XLOG_MULTIXACT_CREATE_ID: {
      const multiXactId = reader.u32();
      const offset = reader.u32();
      const count = reader.count(8);
      const members = new Array<MultiXactMember>(count);
      for (let index = 0; index < count; index++) members[index] = { xid: reader.u32(), status: reader.i32() };
      return { type: 'create', multiXactId, offset, members };
    }
    case XLOG_MULTIXACT_TRUNCATE_ID: return {
      type: 'truncate', oldestMultiDb: reader.u32(), startTruncateOffset: reader.u32(), endTruncateOffset: reader.u32(),
      startTruncateMember: reader.u32(), endTruncateMember: reader.u32(),
    };
    default: throw unsupportedRecord('MultiXact', record.info);
  }
}
