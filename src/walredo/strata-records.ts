/**
 * Redo of Strata records (value.ts): the page changes PostgreSQL makes during redo of a
 * record to a page the record does not reference, which ingest stores on that page's key instead.
 *
 *   ClearVisibilityMapFlags   visibility-map page: clear 2-bit flags of heap blocks
 *                             (visibilitymap.c visibilitymap_clear; the VM page LSN is NOT set,
 *                             as PostgreSQL does not set it there either)
 *   ClogSetCommitted/Aborted  CLOG page: 2 status bits per xid (clog.c TransactionIdSetStatusBit)
 *   MultixactOffsetCreate     pg_multixact/offsets page: the u32 offset of a multixact
 *   MultixactOffsetsSet       the same for several multixacts of one page (a new one and the next)
 *   TruncateVisibilityMap     visibility-map page after a relation truncation: bits of heap blocks
 *                             from the new end on cleared (visibilitymap_prepare_truncate)
 *   MultixactMembersCreate    pg_multixact/members page: member xids and their status flag bytes,
 *                             in groups of 4 members (multixact.c RecordNewMultiXact)
 *   HeapSetAllVisible         heap page of a Heap2 VISIBLE record where XLogHintBitIsNeeded() is
 *                             false: PD_ALL_VISIBLE set, pd_lsn NOT set (heap_xlog_visible); read
 *                             as XLogReadBufferForRedo does, so a page already at or past the
 *                             value's LSN, or a new page, is left alone
 *
 * SLRU pages (CLOG, multixact) have no page header: their bytes are all entries.
 */
import { StrataError } from '../errors.js';
import type { StrataRecord } from '../value.js';
import { CLOG_XACTS_PER_PAGE } from '../wal/records/clog.js';
import {
  MULTIXACT_MEMBERGROUP_BYTES, MULTIXACT_MEMBERGROUPS_PER_PAGE, MULTIXACT_MEMBERS_PER_MEMBERGROUP, MULTIXACT_OFFSETS_PER_PAGE,
} from '../wal/records/multixact.js';
import type { Lsn } from '../lsn.js';
import { BLCKSZ, maxAlign, pageGetLsn, pageIsNew, pageSetAllVisible, readU32, SIZE_OF_PAGE_HEADER, writeU32 } from './page.js';

/** Visibility map: 2 bits per heap block after the (MAXALIGNed) page header. */
const VM_MAP_OFFSET = maxAlign(SIZE_OF_PAGE_HEADER);
const VM_MAPSIZE = BLCKSZ - VM_MAP_OFFSET;
const VM_HEAPBLOCKS_PER_BYTE = 4;
export const VM_HEAPBLOCKS_PER_PAGE = VM_MAPSIZE * VM_HEAPBLOCKS_PER_BYTE;

const TRANSACTION_STATUS_COMMITTED = 0x01;
const TRANSACTION_STATUS_ABORTED = 0x02;
const CLOG_XACTS_PER_BYTE = 4;
const MXACT_MEMBER_BITS_PER_XACT = 8;

/** Applies `record`, stored at `lsn` (the EndRecPtr of the WAL record it stands for), to `page`. */
export function applyStrataRecord(page: Uint8Array, record: StrataRecord, lsn: Lsn): void {
  if (page.length !== BLCKSZ) throw new StrataError('PS_ERR_REDO_FAILED', `a page is ${BLCKSZ} bytes, got ${page.length}`);
  switch (record.kind) {
    case 'HeapSetAllVisible':
      if (pageIsNew(page) || pageGetLsn(page) >= lsn) return;
      pageSetAllVisible(page);
      return;
    case 'ClearVisibilityMapFlags':
      for (const heapBlock of record.heapBlocks) clearVisibilityFlags(page, heapBlock, record.flags);
      return;
    case 'ClogSetCommitted':
      for (const xid of record.xids) setClogStatus(page, xid, TRANSACTION_STATUS_COMMITTED);
      return;
    case 'ClogSetAborted':
      for (const xid of record.xids) setClogStatus(page, xid, TRANSACTION_STATUS_ABORTED);
      return;
    case 'MultixactOffsetCreate':
      writeU32(page, ((record.multiXactId >>> 0) % MULTIXACT_OFFSETS_PER_PAGE) * 4, record.offset >>> 0);
      return;
    case 'MultixactMembersCreate':
      record.members.forEach((member, index) => setMultiXactMember(page, (record.offset + index) >>> 0, member.xid, member.status));
      return;
    case 'TruncateVisibilityMap':
      truncateVisibilityMap(page, record.heapBlocks);
      return;
    case 'MultixactOffsetsSet':
      for (const entry of record.entries) writeU32(page, ((entry.multiXactId >>> 0) % MULTIXACT_OFFSETS_PER_PAGE) * 4, entry.offset >>> 0);
      return;
  }
}

function clearVisibilityFlags(page: Uint8Array, heapBlock: number, flags: number): void {
  const inPage = heapBlock % VM_HEAPBLOCKS_PER_PAGE;
  const byte = VM_MAP_OFFSET + Math.floor(inPage / VM_HEAPBLOCKS_PER_BYTE);
  const shift = (inPage % VM_HEAPBLOCKS_PER_BYTE) * 2;
  page[byte] = page[byte]! & ~((flags & 0x3) << shift);
}

/** visibilitymap_prepare_truncate on the page that keeps heap blocks below `heapBlocks`. */
function truncateVisibilityMap(page: Uint8Array, heapBlocks: number): void {
  const inPage = heapBlocks % VM_HEAPBLOCKS_PER_PAGE;
  if (inPage === 0) return; // The truncation point starts a VM page: no partial page to clear.
  const byte = Math.floor(inPage / VM_HEAPBLOCKS_PER_BYTE);
  const bits = (inPage % VM_HEAPBLOCKS_PER_BYTE) * 2;
  page.fill(0, VM_MAP_OFFSET + byte + 1, BLCKSZ);
  page[VM_MAP_OFFSET + byte] = page[VM_MAP_OFFSET + byte]! & ((1 << bits) - 1);
}

function setClogStatus(page: Uint8Array, xid: number, status: number): void {
  const inPage = (xid >>> 0) % CLOG_XACTS_PER_PAGE;
  const byte = Math.floor(inPage / CLOG_XACTS_PER_BYTE);
  const shift = (inPage % CLOG_XACTS_PER_BYTE) * 2;
  page[byte] = (page[byte]! & ~(0x3 << shift)) | (status << shift);
}

function setMultiXactMember(page: Uint8Array, offset: number, xid: number, status: number): void {
  const group = Math.floor(offset / MULTIXACT_MEMBERS_PER_MEMBERGROUP) % MULTIXACT_MEMBERGROUPS_PER_PAGE;
  const inGroup = offset % MULTIXACT_MEMBERS_PER_MEMBERGROUP;
  const flagsOffset = group * MULTIXACT_MEMBERGROUP_BYTES;
  const shift = inGroup * MXACT_MEMBER_BITS_PER_XACT;
  const flags = (readU32(page, flagsOffset) & ~(0xff << shift)) | ((status & 0xff) << shift);
  writeU32(page, flagsOffset, flags >>> 0);
  writeU32(page, flagsOffset + 4 + inGroup * 4, xid >>> 0);
}
